"""Draining: answers say `Connection: close` once it started, and its callbacks run once each,
a failing one not stopping the others."""

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from parley_kit.draining import CloseConnectionsWhileDraining, Drain


def app_draining_with(drain: Drain) -> CloseConnectionsWhileDraining:
    async def hello(_: object) -> PlainTextResponse:
        return PlainTextResponse("hello", headers={"Connection": "keep-alive"})

    return CloseConnectionsWhileDraining(Starlette(routes=[Route("/", hello)]), drain)


async def test_answers_keep_their_connection_until_draining_starts_then_close_it() -> None:
    drain = Drain()
    transport = httpx.ASGITransport(app=app_draining_with(drain))
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        before = await client.get("/")
        await drain.begin()
        during = await client.get("/")

    assert before.headers["connection"] == "keep-alive"
    assert during.headers.get_list("connection") == ["close"]
    assert during.text == "hello", "still served"


async def test_callbacks_run_once_each_and_a_failing_one_stops_none_of_the_others() -> None:
    drain = Drain()
    ran: list[str] = []

    async def failing() -> None:
        ran.append("failing")
        raise RuntimeError("boom")

    async def sockets() -> None:
        ran.append("sockets")

    async def forgotten() -> None:
        ran.append("forgotten")

    drain.on_start(failing)
    drain.on_start(sockets)
    drain.on_start(forgotten)()  # unregistered at once

    await drain.begin()
    await drain.begin()

    assert ran == ["failing", "sockets"]
    assert drain.started
