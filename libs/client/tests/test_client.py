"""The client against a scripted transport (pure: no network)."""

import json
from collections.abc import Callable

import httpx
import pytest

from parley_client import NotFound, ParleyClient, RateLimited, ValidationFailed

TOKENS = {"access_token": "a1", "refresh_token": "r1", "token_type": "bearer", "expires_in": 900}
MESSAGE = {
    "id": "m1",
    "tenant_id": "t1",
    "conversation_id": "c1",
    "seq": 1,
    "sender_id": "u1",
    "content": "hi",
    "parent_id": None,
    "metadata": {},
    "reactions": {},
    "reply_count": 0,
    "created_at": "2026-11-24T10:00:00.000Z",
    "edited_at": None,
    "deleted": False,
}


def client(
    handler: Callable[[httpx.Request], httpx.Response],
    access_token: str | None = None,
    refresh_token: str | None = None,
) -> ParleyClient:
    http = httpx.AsyncClient(base_url="http://gw", transport=httpx.MockTransport(handler))
    return ParleyClient(
        "http://gw", http=http, access_token=access_token, refresh_token=refresh_token
    )


def problem(status: int, **extra: object) -> httpx.Response:
    body = {"type": "about:blank", "title": "t", "status": status, "detail": "d"} | extra
    return httpx.Response(
        status, json=body, headers={"content-type": "application/problem+json", "retry-after": "7"}
    )


async def test_login_keeps_tokens_and_sends_the_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/auth/login":
            return httpx.Response(200, json=TOKENS)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    api = client(handler)
    await api.login("acme", "ada", "pw")
    await api.list_conversations(limit=5)
    assert api.access_token == "a1"
    assert "authorization" not in seen[0].headers
    assert seen[1].headers["authorization"] == "Bearer a1"
    assert seen[1].url.params["limit"] == "5"
    assert "cursor" not in seen[1].url.params


async def test_a_401_refreshes_once_and_retries() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.url.path} {request.headers.get('authorization')}")
        if request.url.path == "/v1/auth/refresh":
            assert json.loads(request.content) == {"refresh_token": "old-refresh"}
            return httpx.Response(200, json=TOKENS | {"access_token": "fresh"})
        if request.headers.get("authorization") == "Bearer fresh":
            return httpx.Response(200, json=MESSAGE)
        return problem(401)

    api = client(handler, access_token="stale", refresh_token="old-refresh")
    message = await api.get_message("c1", "m1")
    assert message.seq == 1
    assert api.access_token == "fresh"
    assert calls == [
        "/v1/conversations/c1/messages/m1 Bearer stale",
        "/v1/auth/refresh None",
        "/v1/conversations/c1/messages/m1 Bearer fresh",
    ]


async def test_problems_become_typed_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/search/messages":
            return problem(429)
        if request.url.path.endswith("/messages"):
            return problem(422, errors=[{"loc": "body.content", "msg": "empty", "type": "x"}])
        return problem(404)

    api = client(handler, access_token="a")
    with pytest.raises(ValidationFailed) as invalid:
        await api.send_message("c1", " ")
    with pytest.raises(RateLimited) as limited:
        await api.search("x")
    with pytest.raises(NotFound):
        await api.get_conversation("c1")
    assert invalid.value.errors[0]["loc"] == "body.content"
    assert limited.value.retry_after == 7
    assert limited.value.status == 429


async def test_path_segments_are_encoded() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=MESSAGE)

    api = client(handler, access_token="a")
    await api.react("c1", "m1", "👍")
    await api.get_message("c1", "../internal")
    assert paths[0] == "/v1/conversations/c1/messages/m1/reactions/%F0%9F%91%8D"
    assert "/../" not in paths[1]
