"""The app factory every service builds on: problem handlers, request ids, body limit,
admission control (bounded in-flight work, deadlines), health/readiness/metrics. Services add
their routers and a lifespan that builds clients."""

import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.supervisors import Multiprocess

from parley_kit.admission import Admission, in_flight_bound
from parley_kit.draining import CloseConnectionsWhileDraining, DrainingServer
from parley_kit.health import ReadinessCheck, health_router
from parley_kit.last_resort import UnexpectedErrors
from parley_kit.listeners import OpsListener, listen
from parley_kit.logs import configure_logging
from parley_kit.middleware import BodySizeLimit, RequestContext
from parley_kit.openapi import document_problems
from parley_kit.problems import install_problem_handlers
from parley_kit.request_text import PrintableTarget
from parley_kit.settings import ServiceSettings
from parley_kit.tracing import Tracing

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _no_checks() -> Mapping[str, ReadinessCheck]:
    return {}


def create_service_app(
    *,
    service: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
    readiness: Callable[[FastAPI], Mapping[str, ReadinessCheck]] | None = None,
    version: str = "0.1.0",
    description: str | None = None,
    openapi_url: str | None = "/openapi.json",
    trust_deadline_header: bool = True,
    tracing: Tracing | None = None,
) -> FastAPI:
    """`trust_deadline_header=False` for the public edge, which sets deadlines rather than
    taking them from clients. `tracing` replaces the one the settings describe (tests)."""
    configure_logging(service, settings.log_level, settings.log_json)
    tracing = tracing or Tracing.of(settings, service)

    @asynccontextmanager
    async def traced(app: FastAPI) -> AsyncIterator[None]:
        # The exporter first and flushed last, so the service's own start and stop are traced.
        tracing.start()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await tracing.shutdown()

    app = FastAPI(
        title=f"Parley {service}",
        version=version,
        description=description or f"The Parley {service} service.",
        lifespan=traced,
        openapi_url=openapi_url,
        telemetry=tracing.fastapi_telemetry(),
    )
    app.state.settings = settings
    app.state.tracing = tracing
    install_problem_handlers(app)

    def checks() -> Mapping[str, ReadinessCheck]:
        return readiness(app) if readiness is not None else _no_checks()

    app.include_router(health_router(checks, service=service))
    for router in routers:
        app.include_router(router)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        return document_problems(generate_openapi())

    app.openapi = openapi  # type: ignore[method-assign]
    # Outermost first: request ids and metrics see every answer, refusals included; an
    # unexpected error becomes a complete 500 (the connection stays usable); admission
    # refuses before anything else is done.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Admission,
        service=service,
        max_in_flight=in_flight_bound(settings.max_in_flight),
        deadline_seconds=settings.deadline_seconds,
        retry_after_seconds=settings.retry_after_seconds,
        trust_deadline_header=trust_deadline_header,
    )
    # Paths and queries with control characters are refused before they take an admission slot.
    app.add_middleware(PrintableTarget)
    app.add_middleware(UnexpectedErrors)
    # /readyz and /metrics on the ops listener only (see `parley_kit.listeners`).
    app.add_middleware(OpsListener, port=settings.port, ops_port=settings.resolved_ops_port)
    app.add_middleware(CloseConnectionsWhileDraining)
    app.add_middleware(RequestContext, service=service)
    # The client address: the peer's, or what X-Forwarded-For says when the peer is one of
    # the trusted proxies (the rightmost address no trusted proxy added). Nobody by default,
    # so a client cannot pick its own rate-limit key by sending the header.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app


def _listeners(settings: ServiceSettings) -> list[socket.socket]:
    """The service port's and the ops port's sockets; a port that cannot be bound ends the
    start with the variable that chose it."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    sockets: list[socket.socket] = []
    for name, port in (("PORT", settings.port), ("OPS_PORT", settings.resolved_ops_port)):
        try:
            sockets.append(listen(settings.host, port))
        except OSError as exc:
            for sock in sockets:
                sock.close()
            raise SystemExit(
                f"cannot listen on {settings.host}:{port} ({prefix}{name}): {exc.strerror}"
            ) from exc
    return sockets


def serve(app: ASGIApp | str, settings: ServiceSettings, *, factory: bool = False) -> None:
    """Run a service with uvicorn on its port and its ops port; logs stay JSON (uvicorn's own
    log config is disabled).

    `app` is an import string of the app factory (`"parley_x.main:create_app"`, with
    `factory=True`) so that `settings.workers` processes can each build their own app and
    clients; an app object serves in this one process. Both sockets are bound here and
    shared by every worker, as uvicorn shares its one socket. Forwarded headers are the
    app's business (`trusted_proxies`), so uvicorn's own handling is off.
    """
    workers = settings.workers if isinstance(app, str) else 1
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        factory=factory,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    sockets = _listeners(settings)
    # SIGTERM: drain first, then uvicorn's graceful shutdown (see parley_kit.draining).
    server = DrainingServer(config, drain_seconds=settings.drain_seconds)
    try:
        if workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
    if workers == 1 and not server.started:
        raise SystemExit(3)  # uvicorn's own exit status of a failed startup
