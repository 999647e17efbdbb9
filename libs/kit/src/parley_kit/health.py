"""`/healthz` (process alive), `/readyz` (dependencies reachable) and `/metrics` (Prometheus)."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
)

from parley_contracts.problems import PROBLEM_MEDIA_TYPE
from parley_kit.logs import get_logger

ReadinessCheck = Callable[[], Awaitable[object]]

log = get_logger(__name__)

# Each /readyz sets it per check, so an alert names the engine that is down (a 503 alone does
# not); the probes that call /readyz keep it fresh.
DEPENDENCY_READY = Gauge(
    "parley_dependency_ready",
    "1 when the dependency answered this replica's last /readyz check, 0 when it failed",
    ["service", "dependency"],
)


async def _run_check(name: str, check: ReadinessCheck, timeout: float) -> str | None:
    try:
        await asyncio.wait_for(check(), timeout)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"{name}: {type(exc).__name__}: {exc}"[:300]
    return None


def health_router(
    checks: Callable[[], Mapping[str, ReadinessCheck]],
    *,
    service: str,
    registry: CollectorRegistry = REGISTRY,
    timeout: float = 2.0,
) -> APIRouter:
    """`checks` is called per request so it can read clients from app state."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Every dependency answers", response_model=None)
    async def readyz() -> JSONResponse:
        named = dict(checks())
        results = await asyncio.gather(
            *(_run_check(name, check, timeout) for name, check in named.items())
        )
        for name, result in zip(named, results, strict=True):
            DEPENDENCY_READY.labels(service=service, dependency=name).set(result is None)
        failing = [result for result in results if result is not None]
        if failing:
            log.warning("not ready", failing=failing)
            return JSONResponse(
                {
                    "type": "https://parley.dev/problems/unavailable",
                    "title": "Service unavailable",
                    "status": 503,
                    "detail": "not ready: " + "; ".join(failing),
                    "checks": {name: "ok" for name in named}
                    | {f.split(":")[0]: f for f in failing},
                },
                status_code=503,
                media_type=PROBLEM_MEDIA_TYPE,
            )
        return JSONResponse({"status": "ready", "checks": {name: "ok" for name in named}})

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
