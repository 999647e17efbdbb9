"""An error answer never costs the next caller its connection: after a route raises, the same
kept-alive connection serves the next request normally (issue 15, item 11)."""

import httpx
from fastapi import APIRouter, Request

from parley_contracts.problems import PROBLEM_MEDIA_TYPE
from parley_kit.app import create_service_app
from parley_kit.settings import ServiceSettings
from parley_kit.testing.servers import serving


def raising_app() -> object:
    router = APIRouter()

    @router.get("/port")
    async def port(request: Request) -> int:
        """The client port of this request's connection: equal ports, one connection."""
        assert request.client is not None
        return request.client.port

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return create_service_app(service="test", settings=ServiceSettings(), routers=[router])


async def test_a_500_keeps_the_connection_for_the_next_request() -> None:
    async with (
        serving(raising_app()) as url,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1)) as http,
    ):
        before = (await http.get("/port")).json()
        failed = await http.get("/boom")
        after = await http.get("/port")
    assert failed.status_code == 500
    assert failed.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "secret internals" not in failed.text
    assert failed.headers.get("connection", "").lower() != "close"
    assert after.status_code == 200
    assert after.json() == before  # the same connection answered
