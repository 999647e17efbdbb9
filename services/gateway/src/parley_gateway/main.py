"""The gateway app: `create_app(settings)` returns the ASGI app (Socket.IO wrapped around the
FastAPI edge) and the lifespan that builds every client.

Nothing connects at import time; the lifespan builds the httpx pool, the Redis client, the
token verifier, the socket handlers and the Kafka relay, and tears them down in reverse.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
import socketio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from parley_contracts.topics import CONVERSATIONS, MESSAGES, NOTIFICATIONS, USERS, prefixed
from parley_gateway.api import docs, proxy, seed
from parley_gateway.authz import AuthzVersions
from parley_gateway.edge import Edge
from parley_gateway.openapi import PublicDocs
from parley_gateway.ratelimit import BucketPolicy, RateLimiter
from parley_gateway.realtime.connections import ConnectionRegistry
from parley_gateway.realtime.fanout import RedisFanout
from parley_gateway.realtime.relay import EventRelay
from parley_gateway.realtime.server import RealtimeServer, SocketPolicy
from parley_gateway.seed import Relayed, SeedCompat
from parley_gateway.settings import GatewaySettings
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.admission import in_flight_bound
from parley_kit.app import create_service_app
from parley_kit.cache import connect_redis, redis_tls_options
from parley_kit.draining import PROCESS_DRAIN
from parley_kit.health import ReadinessCheck
from parley_kit.identity import ForwardedIdentity
from parley_kit.kafka import KafkaConnection
from parley_kit.last_resort import UnexpectedErrors
from parley_kit.listeners import OpsListener
from parley_kit.tokens import JwksVerifier
from parley_kit.tracing import UntrustedTraceContext, tracing_of

DESCRIPTION = """The public API of Parley: tenants and auth, conversations, messages, search.

Authenticated calls carry `Authorization: Bearer <access_token>`. Errors are RFC 9457
problem details. Real-time events: Socket.IO at `/socket.io` (see API.md). The `/api` routes
serve clients of the seed system, mapped onto v1."""


async def _relayed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Relayed)
    upstream = exc.response
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        headers=Upstreams.response_headers(upstream),
    )


KEEPALIVE_EXPIRY_SECONDS = 4.0


def upstream_pool_size(settings: GatewaySettings) -> int:
    """Connections to the services: an admitted request holds one at a time (an oldest-first
    legacy page, two), so the in-flight bound plus room for socket calls and JWKS means an
    admitted request does not wait for one (one that would wait past the pool timeout is a
    503)."""
    if settings.max_connections > 0:
        return settings.max_connections
    return in_flight_bound(settings.max_in_flight) + 64


def create_app(settings: GatewaySettings | None = None) -> Any:
    """The gateway's ASGI app: Socket.IO at `/socket.io`, everything else to FastAPI."""
    settings = settings or GatewaySettings()
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=RedisFanout(
            settings.redis_url,
            channel=f"{settings.redis_prefix}{settings.socket_channel}",
            redis_options=redis_tls_options(settings.redis_ca_file),
        ),
        cors_allowed_origins=settings.cors_origins or None,
        transports=list(settings.socket_transports),
        logger=False,
        engineio_logger=False,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret = settings.internal_secret.get_secret_value()
        redis = connect_redis(settings.redis_url, ca_file=settings.redis_ca_file)
        pool = upstream_pool_size(settings)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.request_timeout_seconds,
                connect=settings.connect_timeout_seconds,
                pool=settings.pool_timeout_seconds,
            ),
            # Every connection stays alive for reuse: a new TCP connection per call under load
            # costs more than the call. An idle one is dropped before the service's own
            # keep-alive timeout (uvicorn: 5 s) can close it under a request.
            limits=httpx.Limits(
                max_connections=pool,
                max_keepalive_connections=pool,
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            ),
        )
        tracing = tracing_of(app)
        tracing.instrument_http(http)  # calls to the services carry the trace
        upstreams = Upstreams(
            http,
            {
                Service.AUTH: settings.auth_url,
                Service.MESSAGING: settings.messaging_url,
                Service.SEARCH: settings.search_url,
            },
            secret,
            request_timeout=settings.request_timeout_seconds,
            search_timeout=settings.search_timeout_seconds,
            connect_timeout=settings.connect_timeout_seconds,
            pool_timeout=settings.pool_timeout_seconds,
            deadline_margin=settings.deadline_margin_seconds,
            retry_after=settings.retry_after_seconds,
        )
        forwarded = ForwardedIdentity(secret)
        edge = Edge(
            JwksVerifier(
                settings.jwks_url,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                http=http,
                cache_seconds=settings.jwks_cache_seconds,
            ),
            forwarded,
            RateLimiter(redis, f"{settings.redis_prefix}gw:rate:"),
            AuthzVersions(redis, settings.redis_prefix, upstreams),
            per_user=BucketPolicy(settings.user_rate_per_second, settings.user_burst),
            per_ip=BucketPolicy(settings.ip_rate_per_second, settings.ip_burst),
        )
        connections = ConnectionRegistry(
            redis,
            settings.redis_prefix,
            ttl_seconds=settings.presence_ttl_seconds,
            max_per_user=settings.socket_max_per_user,
        )
        realtime = RealtimeServer(
            sio,
            edge,
            forwarded,
            upstreams,
            connections,
            RateLimiter(redis, f"{settings.redis_prefix}gw:rate:"),
            SocketPolicy.of(settings),
        )
        kafka = KafkaConnection.of(settings)
        relay = EventRelay(
            sio,
            connections,
            kafka.broker(client_id="parley-gateway", tracing=tracing),
            kafka=kafka,
            topics=[
                prefixed(settings.topic_prefix, MESSAGES),
                prefixed(settings.topic_prefix, CONVERSATIONS),
                prefixed(settings.topic_prefix, NOTIFICATIONS),
                prefixed(settings.topic_prefix, USERS),  # deactivations close sockets
            ],
            group_id=f"{settings.topic_prefix}{settings.relay_group_id}",
            tracer=tracing.tracer("parley_gateway.realtime"),
        )
        app.state.redis, app.state.http, app.state.relay = redis, http, relay
        app.state.upstreams, app.state.edge = upstreams, edge
        app.state.docs = PublicDocs(upstreams, app.openapi)
        app.state.seed = SeedCompat(upstreams)
        realtime.start()
        relay.start()
        # On SIGTERM the sockets move first, while this replica still serves its requests.
        forget_drain = PROCESS_DRAIN.on_start(realtime.ask_to_reconnect)
        try:
            yield
        finally:
            forget_drain()
            await relay.stop()
            await realtime.stop()
            with suppress(Exception):
                await sio.shutdown()
            await http.aclose()
            await redis.aclose()

    async def relay_started(app: FastAPI) -> None:
        # Ready once the relay has owned partitions: before that, events would be missed by
        # sockets. Later Kafka outages do not unready the HTTP edge (the relay reconnects).
        if not app.state.relay.assigned.is_set():
            raise RuntimeError("the event relay has not joined its consumer group yet")

    def readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
        return {"redis": lambda: app.state.redis.ping(), "relay": lambda: relay_started(app)}

    api = create_service_app(
        service="gateway",
        settings=settings,
        routers=[docs.router, seed.router, proxy.router],
        lifespan=lifespan,
        readiness=readiness,
        description=DESCRIPTION,
        openapi_url=None,
        trust_deadline_header=False,  # the edge sets deadlines; clients do not
    )
    api.add_exception_handler(Relayed, _relayed)
    # The edge answers what it is asked: a path that matches no route (an encoded `/` decodes
    # to an empty segment, for one) is a 404 problem, never a redirect to some other path.
    api.router.redirect_slashes = False
    if settings.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
            allow_credentials=True,
        )
    api.state.sio = sio
    # The same last resort outside the Socket.IO mount as inside the API: an error in the
    # socket transport is a complete 500 problem too, and the connection stays usable. The ops
    # listener serves no sockets either (the API keeps its own `OpsListener`). Traces start
    # at the API: a client's trace context is dropped.
    edge = socketio.ASGIApp(
        sio, other_asgi_app=UntrustedTraceContext(api), socketio_path="socket.io"
    )
    return OpsListener(
        UnexpectedErrors(edge),
        port=settings.port,
        ops_port=settings.resolved_ops_port,
    )
