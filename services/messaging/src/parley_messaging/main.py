"""The messaging app: `create_app(settings)` and the lifespan that builds its clients."""

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from pymongo import monitoring

from parley_contracts.topics import USERS, prefixed
from parley_kit.app import create_service_app
from parley_kit.cache import connect_redis
from parley_kit.health import ReadinessCheck
from parley_kit.identity import Authenticator, ForwardedIdentity
from parley_kit.kafka import KafkaConnection
from parley_kit.locks import RedisLock
from parley_kit.migrations import MongoLedger
from parley_kit.mongo import connect_mongo, group_commit, ping
from parley_kit.outbox import Outbox, OutboxRelay
from parley_kit.tokens import JwksVerifier
from parley_kit.tracing import tracing_of
from parley_messaging.api import conversations, internal, messages, pins
from parley_messaging.api.notifications import router as notifications_router
from parley_messaging.directory import UserDirectory
from parley_messaging.domain.conversations import ConversationService
from parley_messaging.domain.history import EditHistory
from parley_messaging.domain.membership import MembershipCheck
from parley_messaging.domain.mentions import MentionResolver
from parley_messaging.domain.messages import MessageService
from parley_messaging.domain.notifications import NotificationService
from parley_messaging.domain.pins import PinService
from parley_messaging.domain.succession import ActiveUsers, AdminSuccession
from parley_messaging.domain.timeline import Timeline
from parley_messaging.events import TOPICS, MessagingEvents
from parley_messaging.migrations import MIGRATIONS
from parley_messaging.models import (
    MESSAGING_MODELS,
    MessageRecord,
    NotificationRecord,
    ReactionRecord,
)
from parley_messaging.projection import ConversationProjection
from parley_messaging.projection.notifications import NotificationProjection
from parley_messaging.settings import MessagingSettings
from parley_messaging.user_events import UserEventsListener


def create_app(
    settings: MessagingSettings | None = None,
    *,
    mongo_listeners: Sequence[monitoring.CommandListener] = (),
) -> FastAPI:
    """`mongo_listeners` observe every store command (the no-scan test counts them)."""
    settings = settings or MessagingSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = await connect_mongo(
            settings.mongo_url,
            settings.mongo_db,
            [*MESSAGING_MODELS],
            event_listeners=mongo_listeners,
            tls_ca_file=settings.mongo_ca_file,
        )
        # Indexes are versioned migrations: applied here or checked (`migrations` setting).
        await MIGRATIONS.at_start(
            mongo[settings.mongo_db], MongoLedger(mongo[settings.mongo_db]), settings.migrations
        )
        redis = connect_redis(settings.redis_url, ca_file=settings.redis_ca_file)
        kafka = KafkaConnection.of(settings)
        http = httpx.AsyncClient(timeout=5.0, limits=httpx.Limits(max_connections=100))
        tracing = tracing_of(app)
        tracing.instrument_http(http)
        secret = settings.internal_secret.get_secret_value()
        database = mongo[settings.mongo_db]
        relay = OutboxRelay(
            database,
            kafka,
            client_id="parley-messaging",
            topics=[prefixed(settings.topic_prefix, topic) for topic in TOPICS],
            gap_grace=settings.outbox_gap_grace_seconds,
            poll_interval=settings.outbox_poll_seconds,
            tracer=tracing.tracer("parley_kit.outbox"),
        )
        outbox = Outbox(database, settings.topic_prefix, relay)
        events = MessagingEvents(outbox)
        projection = ConversationProjection(
            redis,
            f"{settings.redis_prefix}messaging:",
            page_keep=settings.page_cache_size,
            idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        )
        message_inserts = group_commit(MessageRecord)
        timeline = Timeline(
            projection,
            message_inserts,
            events,
            page_keep=settings.page_cache_size,
            gap_grace_seconds=settings.outbox_gap_grace_seconds,
        )
        membership = MembershipCheck(projection)
        directory = UserDirectory(
            http, settings.auth_url, secret, redis, f"{settings.redis_prefix}messaging:"
        )
        app.state.mongo, app.state.redis, app.state.http, app.state.relay = (
            mongo,
            redis,
            http,
            relay,
        )
        app.state.membership = membership
        # Writers of one message document, or of one conversation's roles, take turns.
        locks = RedisLock(redis, f"{settings.redis_prefix}messaging:lock:", service="messaging")
        notification_inserts = group_commit(NotificationRecord)
        notifications = NotificationService(
            membership,
            MentionResolver(directory, redis, f"{settings.redis_prefix}messaging:"),
            NotificationProjection(redis, f"{settings.redis_prefix}messaging:"),
            timeline,
            events,
            locks,
            notification_inserts,
        )
        app.state.notifications = notifications
        app.state.conversations = ConversationService(
            membership, directory, events, projection, timeline, locks, notifications
        )
        succession = AdminSuccession(
            membership,
            locks,
            ActiveUsers(http, settings.auth_url, secret),
            app.state.conversations.announce_updated,
        )
        user_events = UserEventsListener(
            kafka,
            prefixed(settings.topic_prefix, USERS),
            group_id=f"{settings.topic_prefix}{settings.users_consumer_group}",
            handler=succession.on_user_event,
            tracing=tracing,
        )
        app.state.messages = MessageService(
            membership,
            projection,
            timeline,
            events,
            locks,
            group_commit(ReactionRecord),
            notifications=notifications,
        )
        app.state.edit_history = EditHistory(membership, timeline)
        app.state.pins = PinService(membership, projection, timeline, events, locks)
        app.state.authenticator = Authenticator(
            JwksVerifier(
                settings.jwks_url,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                http=http,
                cache_seconds=settings.jwks_cache_seconds,
            ),
            ForwardedIdentity(secret),
        )
        await relay.start()
        user_events.start()
        try:
            yield
        finally:
            await user_events.stop()
            await relay.stop()
            await timeline.close()
            await message_inserts.close()
            await notification_inserts.close()
            await outbox.close()
            await http.aclose()
            await redis.aclose()
            await mongo.close()

    def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
        # Redis and Kafka are not readiness conditions: reads fall back to MongoDB and the
        # outbox keeps events until Kafka is back.
        return {"mongo": lambda: ping(app.state.mongo)}

    return create_service_app(
        service="messaging",
        settings=settings,
        routers=[
            conversations.router,
            messages.router,
            pins.router,
            notifications_router,
            internal.router,
        ],
        lifespan=lifespan,
        readiness=readiness,
        description="Conversations, ordered messages, threads, reactions and read state.",
    )
