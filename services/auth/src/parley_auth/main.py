"""The auth app: `create_app(settings)` and the lifespan that builds its clients."""

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

from parley_auth.api import internal, public
from parley_auth.authz import AuthzVersions
from parley_auth.events import TOPICS, AuthEvents
from parley_auth.keys import SigningKeys, key_store
from parley_auth.migrations import MIGRATIONS
from parley_auth.models import AUTH_MODELS
from parley_auth.passwords import PasswordHashing
from parley_auth.repository import TenantRepository
from parley_auth.service import AuthService
from parley_auth.sessions import UserSessions
from parley_auth.settings import AuthSettings
from parley_auth.throttle import Throttle
from parley_auth.tokens import TokenIssuer
from parley_contracts.topics import prefixed
from parley_kit.app import create_service_app
from parley_kit.cache import connect_redis
from parley_kit.health import ReadinessCheck
from parley_kit.identity import Authenticator, ForwardedIdentity
from parley_kit.kafka import KafkaConnection
from parley_kit.locks import RedisLock
from parley_kit.migrations import MongoLedger
from parley_kit.mongo import connect_mongo, ping
from parley_kit.outbox import Outbox, OutboxRelay
from parley_kit.tokens import JwksVerifier
from parley_kit.tracing import tracing_of


def create_app(
    settings: AuthSettings | None = None, *, password_hasher: PasswordHasher | None = None
) -> FastAPI:
    """The auth app; `password_hasher` replaces argon2's default parameters (tests, tuning)."""
    settings = settings or AuthSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = await connect_mongo(
            settings.mongo_url,
            settings.mongo_db,
            [*AUTH_MODELS],
            tls_ca_file=settings.mongo_ca_file,
        )
        # Indexes are versioned migrations: applied here or checked (`migrations` setting).
        await MIGRATIONS.at_start(
            mongo[settings.mongo_db], MongoLedger(mongo[settings.mongo_db]), settings.migrations
        )
        # Redis holds auth's abuse bounds, which refuse when it fails: a timeout long enough
        # that a busy host does not pass for an outage.
        redis = connect_redis(settings.redis_url, timeout=2.0, ca_file=settings.redis_ca_file)
        http = tracing_of(app).instrument_http(httpx.AsyncClient(timeout=5.0))
        locks = RedisLock(redis, f"{settings.redis_prefix}auth:lock:", service="auth")
        keys = SigningKeys(key_store(redis, settings), settings.key_poll_seconds)
        # Replicas starting together on an empty store must not each create a first key (each
        # would publish only its own): one at a time checks and creates.
        async with locks.held("signing-keys"):
            await keys.load(settings.signing_key_file)
        verifier = JwksVerifier(
            f"{settings.public_url}/.well-known/jwks.json",
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            http=http,
            # Auth's own keys, in-process: as fresh as the keys it signs with.
            cache_seconds=settings.key_poll_seconds,
            min_refetch_seconds=0,
            jwks_source=keys.current_jwks,
        )
        verifier.load_jwks(keys.jwks())
        # Every replica follows the store's keys: a promotion anywhere reaches all of them.
        following_keys = asyncio.create_task(keys.follow())
        database = mongo[settings.mongo_db]
        relay = OutboxRelay(
            database,
            KafkaConnection.of(settings),
            client_id="parley-auth",
            topics=[prefixed(settings.topic_prefix, topic) for topic in TOPICS],
            tracer=tracing_of(app).tracer("parley_kit.outbox"),
        )
        outbox = Outbox(database, settings.topic_prefix, relay)
        await relay.start()
        app.state.mongo, app.state.redis, app.state.http = mongo, redis, http
        app.state.signing_keys, app.state.relay = keys, relay
        app.state.authenticator = Authenticator(
            verifier, ForwardedIdentity(settings.internal_secret.get_secret_value())
        )
        passwords = PasswordHashing(
            workers=settings.password_hash_workers,
            in_flight=settings.password_hashes_in_flight,
            per_client=settings.password_hashes_per_ip,
            hasher=password_hasher,
        )
        app.state.passwords = passwords
        sessions = UserSessions(locks, max_sessions=settings.sessions_per_user)
        app.state.auth_service = AuthService(
            settings,
            TokenIssuer(settings, keys, sessions),
            passwords,
            Throttle(redis, f"{settings.redis_prefix}auth:"),
            locks,
            AuthzVersions(redis, settings.redis_prefix),
            AuthEvents(outbox),
            TenantRepository(),
            sessions,
        )
        try:
            yield
        finally:
            following_keys.cancel()
            passwords.close()
            await relay.stop()
            await http.aclose()
            await redis.aclose()
            await mongo.close()

    def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
        return {"mongo": lambda: ping(app.state.mongo), "redis": lambda: app.state.redis.ping()}

    return create_service_app(
        service="auth",
        settings=settings,
        routers=[public.router, internal.router],
        lifespan=lifespan,
        readiness=readiness,
        description="Tenants, users, access tokens (RS256, JWKS) and refresh-token families.",
    )
