"""Calls the gateway makes: the deadline each carries, what becomes a 503, and how few calls a
legacy history page takes. The services are stood in for by an httpx transport that answers
as the messaging API does (no engine is involved)."""

import time
from typing import Any, Literal

import httpx
import pytest
from starlette.datastructures import Headers

from parley_gateway.seed import SeedCompat
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.deadlines import DEADLINE_HEADER, parse_deadline, within
from parley_kit.problems import ServiceUnavailable

CONVERSATION_ID = "65f0c0ffee0123456789abcd"


class History:
    """`GET /v1/conversations/{id}/messages` over seqs 1..total, as API.md specifies it."""

    def __init__(self, total: int, deleted: frozenset[int] = frozenset()) -> None:
        self.total = total
        self.deleted = deleted
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        params = request.url.params
        limit = int(params.get("limit", "50"))
        if "after_seq" in params:
            after = int(params["after_seq"])
            seqs = list(range(after + 1, self.total + 1))[:limit]
        else:
            before = int(params.get("before_seq", str(self.total + 1)))
            seqs = list(range(min(before, self.total + 1) - 1, 0, -1))[:limit]
        items = [self.message(seq) for seq in seqs]
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    def message(self, seq: int) -> dict[str, Any]:
        return {
            "id": f"m{seq}",
            "tenant_id": "t",
            "conversation_id": "c",
            "seq": seq,
            "sender_id": "u",
            "content": "" if seq in self.deleted else f"message {seq}",
            "created_at": "2026-01-01T00:00:00Z",
            "deleted": seq in self.deleted,
        }


def upstreams(handler: Any, **options: Any) -> Upstreams:
    return Upstreams(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        {s: f"http://{s.value}" for s in Service},
        "secret",
        request_timeout=10,
        search_timeout=5,
        **options,
    )


async def page(
    history: History, page_no: int, page_size: int, sort: Literal["asc", "desc"] = "desc"
) -> dict[str, Any]:
    return await SeedCompat(upstreams(history)).history(
        "identity", CONVERSATION_ID, page_no, page_size, sort
    )


def contents(body: dict[str, Any]) -> list[str]:
    return [message["content"] for message in body["data"]]


async def test_the_newest_legacy_page_is_one_call() -> None:
    history = History(total=7)
    body = await page(history, 1, 3)
    assert len(history.calls) == 1
    assert contents(body) == ["message 7", "message 6", "message 5"]
    assert (body["totalElements"], body["totalPages"]) == (7, 3)


async def test_older_newest_first_pages_are_placed_by_the_newest_seq() -> None:
    history = History(total=7)
    second = await page(history, 2, 3)
    last = await page(history, 3, 3)
    beyond = await page(history, 4, 3)
    assert contents(second) == ["message 4", "message 3", "message 2"]
    assert contents(last) == ["message 1"]
    assert contents(beyond) == []
    assert beyond["totalElements"] == 7
    assert all(
        request.url.path == f"/v1/conversations/{CONVERSATION_ID}/messages"
        for request in history.calls
    )


async def test_oldest_first_pages_and_the_total_come_from_one_round_trip() -> None:
    history = History(total=7)
    body = await page(history, 2, 3, "asc")
    assert contents(body) == ["message 4", "message 5", "message 6"]
    assert body["totalElements"] == 7
    assert len(history.calls) == 2  # side by side, not one after the other


async def test_deleted_messages_count_but_are_not_listed() -> None:
    history = History(total=4, deleted=frozenset({4, 2}))
    body = await page(history, 1, 4)
    assert contents(body) == ["message 3", "message 1"]
    assert body["totalElements"] == 4


async def test_an_empty_conversation_has_no_pages() -> None:
    body = await page(History(total=0), 1, 10)
    assert (body["totalElements"], body["totalPages"], body["data"]) == (0, 0, [])


async def test_every_call_carries_a_deadline_before_the_gateway_gives_up() -> None:
    history = History(total=1)
    table = upstreams(history, deadline_margin=0.25)
    started = time.time()
    await table.send(Service.MESSAGING, "GET", "/v1/conversations/c/messages", headers={})
    deadline = parse_deadline(history.calls[0].headers[DEADLINE_HEADER])
    assert deadline is not None
    assert started + 9 < deadline <= time.time() + 10 - 0.25


async def test_a_call_inside_a_request_keeps_to_the_request_deadline() -> None:
    history = History(total=1)
    table = upstreams(history)
    request_deadline = time.time() + 2
    with within(request_deadline):
        await table.send(Service.MESSAGING, "GET", "/v1/conversations/c/messages", headers={})
    deadline = parse_deadline(history.calls[0].headers[DEADLINE_HEADER])
    assert deadline is not None
    assert deadline < request_deadline


async def test_no_call_is_made_once_the_request_deadline_passed() -> None:
    history = History(total=1)
    table = upstreams(history, retry_after=4)
    with within(time.time() - 1), pytest.raises(ServiceUnavailable) as refused:
        await table.send(Service.MESSAGING, "GET", "/v1/conversations/c/messages", headers={})
    assert history.calls == []
    assert refused.value.headers["Retry-After"] == "4"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.PoolTimeout("no free connection"),
        httpx.ConnectError("refused"),
    ],
)
async def test_a_slow_full_or_down_service_is_a_503_with_retry_after(
    failure: httpx.TransportError,
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    table = upstreams(fail, retry_after=2)
    with pytest.raises(ServiceUnavailable) as unavailable:
        await table.send(Service.MESSAGING, "GET", "/v1/conversations", headers={})
    assert unavailable.value.status == 503
    assert unavailable.value.headers["Retry-After"] == "2"


def test_a_client_cannot_choose_the_deadline_services_see() -> None:
    table = upstreams(History(total=0))
    headers = table.forwarded_headers(
        Service.MESSAGING,
        Headers({DEADLINE_HEADER: "99999999999999"}),
        client_ip="10.0.0.1",
        identity=None,
    )
    assert DEADLINE_HEADER not in headers
