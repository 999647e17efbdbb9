"""The app factory every service builds on: problem handlers, request ids, body limit,
health/readiness/metrics. Services add their routers and a lifespan that builds clients."""

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

import uvicorn
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from parley_kit.health import ReadinessCheck, health_router
from parley_kit.logs import configure_logging
from parley_kit.middleware import BodySizeLimit, RequestContext
from parley_kit.problems import install_problem_handlers
from parley_kit.settings import ServiceSettings

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
) -> FastAPI:
    configure_logging(service, settings.log_level, settings.log_json)
    app = FastAPI(
        title=f"Parley {service}",
        version=version,
        description=description or f"The Parley {service} service.",
        lifespan=lifespan,
        openapi_url=openapi_url,
    )
    app.state.settings = settings
    install_problem_handlers(app)

    def checks() -> Mapping[str, ReadinessCheck]:
        return readiness(app) if readiness is not None else _no_checks()

    app.include_router(health_router(checks))
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, service=service)
    return app


def serve(
    app: ASGIApp | str,
    settings: ServiceSettings,
    *,
    factory: bool = False,
    proxy_headers: bool = True,
    forwarded_allow_ips: str = "127.0.0.1",
) -> None:
    """Run a service with uvicorn; logs stay JSON (uvicorn's own log config is disabled).

    `proxy_headers` lets a service behind the gateway see the client address the gateway
    forwards; the gateway itself turns it off unless it sits behind a trusted proxy.
    """
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        factory=factory,
        log_config=None,
        access_log=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )
