"""Bad input anywhere is a 422 problem naming the part at fault, never a 500."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query

from parley_contracts.cursors import Position, decode_cursor
from parley_contracts.resources import MessageCreate
from parley_contracts.validation import Seq
from parley_kit.app import create_service_app
from parley_kit.settings import ServiceSettings

PROBLEM = "application/problem+json"


class After(Position):
    after: Seq


def make_app() -> FastAPI:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: MessageCreate) -> dict[str, str]:
        return {"content": body.content}

    @router.get("/items/{item_id}")
    async def item(
        item_id: str,
        q: str | None = None,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> dict[str, object]:
        after = decode_cursor(cursor, After).after if cursor else None
        return {"id": item_id, "q": q, "after": after}

    return create_service_app(
        service="test", settings=ServiceSettings(max_body_bytes=65536), routers=[router]
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        yield http


def problem_locs(response: httpx.Response, status: int = 422) -> list[str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return [error["loc"] for error in response.json().get("errors", [])]


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (b'{"content": "x", "metadata": {"a\\u0000b": 1}}', "body.metadata.a\\u0000b"),
        (b'{"content": "x\\ud800y"}', "body.content"),
        (b'{"content": "x", "metadata": {"k\\udc00": "v"}}', "body.metadata.k\\udc00"),
        (b'{"content": "x", "metadata": {"n": 99999999999999999999}}', "body.metadata.n"),
        (b'{"content": "x", "metadata": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}", None),
    ],
)
async def test_hostile_bodies_are_422_naming_the_part(
    client: httpx.AsyncClient, raw: bytes, loc: str | None
) -> None:
    response = await client.post("/echo", content=raw, headers={"content-type": "application/json"})
    locs = problem_locs(response)
    if loc is not None:
        assert locs == [loc]
    else:
        assert locs[0].startswith("body.metadata.a[0][0]")


async def test_json_too_deep_to_parse_is_a_4xx_problem(client: httpx.AsyncClient) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    response = await client.post("/echo", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/items/a%00b", "path"),
        ("/items/a%01b", "path"),
        ("/items/a%7Fb", "path"),
        ("/items/ok?q=a%00b", "query.q"),
        ("/items/ok?q=a%1bb", "query.q"),
        ("/items/ok?x%00=1", "query.x\\u0000"),
    ],
)
async def test_control_characters_in_paths_and_queries_are_422(
    client: httpx.AsyncClient, url: str, loc: str
) -> None:
    assert problem_locs(await client.get(url)) == [loc]


async def test_ordinary_paths_and_queries_pass(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/%F0%9F%91%8D", params={"q": "tab\there\nnewline é"})
    assert response.status_code == 200
    assert response.json()["id"] == "👍"


@pytest.mark.parametrize("cursor", ["!!!", "e30=", "eyJhZnRlciI6IC0xfQ==", "W3t9LHt9LHt9XQ=="])
async def test_malformed_cursors_are_422_naming_the_cursor(
    client: httpx.AsyncClient, cursor: str
) -> None:
    assert problem_locs(await client.get("/items/ok", params={"cursor": cursor})) == [
        "query.cursor"
    ]
