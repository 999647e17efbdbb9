"""The search app: `create_app(settings)` and the lifespan that builds its clients.

The indexer and the membership listener run on one FastStream broker, started in the
background so the search API serves even while Kafka is unreachable (it retries).
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from parley_contracts.topics import CONVERSATIONS, MESSAGES, dlq, prefixed
from parley_kit.app import create_service_app
from parley_kit.health import ReadinessCheck
from parley_kit.identity import Authenticator, ForwardedIdentity
from parley_kit.kafka import KafkaConnection, start_consuming
from parley_kit.logs import get_logger
from parley_kit.tokens import JwksVerifier
from parley_kit.tracing import tracing_of
from parley_search.api import search
from parley_search.directory import UserDirectory
from parley_search.engine import connect_engine
from parley_search.index import alias_name, apply_live_settings
from parley_search.indexer import Indexer, raw_bodies
from parley_search.membership import Memberships
from parley_search.migrations import MIGRATIONS, EngineLedger, SearchStore
from parley_search.service import SearchService
from parley_search.settings import SearchSettings

log = get_logger(__name__)


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    settings = settings or SearchSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = connect_engine(settings)
        await MIGRATIONS.at_start(
            SearchStore(engine, settings), EngineLedger(engine, settings), settings.migrations
        )
        await apply_live_settings(engine, settings)
        alias = alias_name(settings.index_prefix)
        http = httpx.AsyncClient(timeout=5.0)
        tracing = tracing_of(app)
        tracing.instrument_http(http)
        secret = settings.internal_secret.get_secret_value()
        memberships = Memberships(
            http, settings.messaging_url, secret, settings.membership_cache_seconds
        )
        messages_topic = prefixed(settings.topic_prefix, MESSAGES)
        conversations_topic = prefixed(settings.topic_prefix, CONVERSATIONS)
        kafka = KafkaConnection.of(settings)
        broker = kafka.broker(client_id="parley-search", tracing=tracing)
        Indexer(engine, broker, alias, dlq(messages_topic)).subscribe(
            messages_topic,
            group_id=settings.consumer_group,
            batch_size=settings.batch_size,
            flush_interval_ms=settings.flush_interval_ms,
        )
        membership_listener = broker.subscriber(
            conversations_topic,
            group_id=f"{settings.consumer_group}-membership-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            decoder=raw_bodies,
        )
        membership_listener(memberships.on_conversation_event)
        consumers = asyncio.create_task(
            start_consuming(
                broker,
                kafka,
                [messages_topic, conversations_topic, dlq(messages_topic)],
                name="search consumers",
            )
        )
        app.state.engine, app.state.http, app.state.broker = engine, http, broker
        directory = UserDirectory(http, settings.auth_url, secret)
        app.state.search_service = SearchService(engine, memberships, alias, directory)
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
        try:
            yield
        finally:
            consumers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumers
            with contextlib.suppress(Exception):
                await broker.stop()
            await http.aclose()
            await engine.close()

    def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
        return {"search-engine": lambda: app.state.engine.info()}

    return create_service_app(
        service="search",
        settings=settings,
        routers=[search.router],
        lifespan=lifespan,
        readiness=readiness,
        description="Full-text search over the caller's conversations.",
    )
