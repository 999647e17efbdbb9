"""What an attacker or an unlucky user types: escaped highlights, queries with nothing to search
for, unusual dates and forged cursors, each refused or answered safely, never a 500."""

import asyncio
from typing import Any

import httpx
import pytest
from search_suite import SearchRig, identity, make_message, publish

from parley_contracts.topics import EventType

pytestmark = pytest.mark.integration

TENANT, USER, CONVERSATION = "tenant-h", "user-h", "conv-h"
HOSTILE = "look <img src=x onerror=alert(1)> here <em>fake</em> & <script>x()</script> done"


async def get(rig: SearchRig, **params: Any) -> httpx.Response:
    return await rig.client.get(
        "/v1/search/messages", params=params, headers=identity(TENANT, USER)
    )


@pytest.fixture
async def hostile(rig: SearchRig) -> str:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    message = make_message(TENANT, CONVERSATION, HOSTILE)
    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, message)
    for _ in range(100):
        response = await get(rig, q="onerror")
        if response.status_code == 200 and response.json()["total"]:
            return message.id
        await asyncio.sleep(0.1)
    raise AssertionError("the message was never indexed")


async def test_highlights_escape_the_text_and_keep_only_em_tags(
    rig: SearchRig, hostile: str
) -> None:
    response = await get(rig, q="img script fake onerror")
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["message"]["content"] == HOSTILE  # the resource keeps the text as written
    assert item["highlights"]
    for fragment in item["highlights"]:
        markup = fragment.replace("<em>", "").replace("</em>", "")
        assert "<" not in markup, fragment
        assert ">" not in markup, fragment
    joined = " ".join(item["highlights"])
    assert "&lt;<em>img</em>" in joined
    assert "<em>onerror</em>" in joined
    # The text's own "<em>" is text, not markup.
    assert "&lt;em&gt;<em>fake</em>&lt;" in joined


@pytest.mark.parametrize("q", ['""', '"', '" "', "!!!", '"?" ...'])
async def test_queries_with_nothing_to_search_for_are_422(
    rig: SearchRig, hostile: str, q: str
) -> None:
    response = await get(rig, q=q)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == ["query.q"]


@pytest.mark.parametrize(
    "before", ["2026-01-01T00:00:00+23:59", "2999-01-01T00:00:00-23:59", "2999-01-01T00:00:00"]
)
async def test_dates_with_any_offset_are_taken(rig: SearchRig, hostile: str, before: str) -> None:
    response = await get(rig, q="onerror", before=before)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"before": "9999-12-31T23:59:59-12:00"}, "query.before"),
        ({"after": "0001-01-01T00:00:00+01:00"}, "query.after"),
        ({"after": "yesterday"}, "query.after"),
        ({"cursor": "W3t9LHt9LHt9XQ=="}, "query.cursor"),  # [{}, {}, {}]
        ({"cursor": "WzEuNSwgMTcwMDAwMDAwMDAwMCwgImlkIl0="}, "query.cursor"),
        ({"cursor": "not a cursor"}, "query.cursor"),
        ({"q": "a\x00b"}, "query.q"),
    ],
)
async def test_bad_dates_cursors_and_text_are_422_naming_the_parameter(
    rig: SearchRig, hostile: str, params: dict[str, str], loc: str
) -> None:
    response = await get(rig, **({"q": "onerror"} | params))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == [loc]


async def test_a_cursor_the_service_wrote_walks_on(rig: SearchRig, hostile: str) -> None:
    second = make_message(TENANT, CONVERSATION, "onerror again")
    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, second)
    for _ in range(100):
        first = (await get(rig, q="onerror", limit=1)).json()
        if first["total"] == 2:
            break
        await asyncio.sleep(0.1)
    assert first["next_cursor"]
    rest = await get(rig, q="onerror", limit=1, cursor=first["next_cursor"])
    assert rest.status_code == 200
    ids = {first["items"][0]["message"]["id"], rest.json()["items"][0]["message"]["id"]}
    assert ids == {hostile, second.id}
