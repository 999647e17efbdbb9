"""The service app factory: health, readiness, metrics, problems, request ids, body limit."""

from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from parley_contracts.resources import MessageCreate
from parley_kit.app import create_service_app
from parley_kit.health import ReadinessCheck
from parley_kit.problems import Conflict, TooManyRequests
from parley_kit.settings import ServiceSettings


class Echo(BaseModel):
    content: str


def make_router() -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: MessageCreate) -> Echo:
        return Echo(content=body.content)

    @router.get("/conflict")
    async def conflict() -> None:
        raise Conflict("already there")

    @router.get("/limited")
    async def limited() -> None:
        raise TooManyRequests(retry_after=7)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return router


async def failing_check() -> None:
    raise ConnectionError("engine down")


async def passing_check() -> None:
    return None


def make_app(checks: Mapping[str, ReadinessCheck] | None = None) -> FastAPI:
    return create_service_app(
        service="test",
        settings=ServiceSettings(max_body_bytes=1024),
        routers=[make_router()],
        readiness=lambda _app: checks or {},
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        yield http


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_names_the_failing_dependency() -> None:
    app = make_app({"mongo": passing_check, "kafka": failing_check})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "kafka: ConnectionError: engine down" in response.json()["detail"]
    assert "mongo" not in response.json()["detail"]


async def test_readyz_is_ready_when_every_check_passes() -> None:
    app = make_app({"mongo": passing_check})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await c.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"mongo": "ok"}


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "parley_http_requests_total" in response.text


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_id_is_minted_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 32


async def test_validation_errors_are_422_problems_listing_each_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/echo", json={"content": "", "metadata": {"$gt": 1}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert body["type"].endswith("/validation")
    assert body["errors"][0]["loc"].startswith("body")


async def test_domain_errors_become_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    assert response.status_code == 409
    assert response.json()["detail"] == "already there"


async def test_rate_limit_problem_carries_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


async def test_unexpected_errors_hide_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo", content=b"x" * 2048, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 512

    response = await client.post(
        "/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
