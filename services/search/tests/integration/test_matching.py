"""Search finds what people typed: prefixes, accents, URLs, identifiers, stems, phrases."""

import asyncio
from typing import Any

import pytest
from search_suite import SearchRig, identity, make_message, publish

from parley_contracts.topics import EventType

pytestmark = pytest.mark.integration

TENANT, USER, CONVERSATION = "tenant-1", "user-1", "conv-1"

CORPUS = {
    "deploy": "The deployment finished at noon",
    "cafe": "Meet me at the café on Rue Cler",
    "url": "Read https://example.com/docs/getting-started before asking",
    "snake": "rename snake_case_name everywhere",
    "camel": "the HttpClient retries twice",
    "run": "I am running late today",
    "phrase_exact": "we should ship the release today",
    "phrase_loose": "today the release team will ship nothing",
}


async def search(rig: SearchRig, q: str, **params: Any) -> dict[str, Any]:
    response = await rig.client.get(
        "/v1/search/messages", params={"q": q, **params}, headers=identity(TENANT, USER)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def searchable(rig: SearchRig, q: str, expected: int = 1) -> dict[str, Any]:
    """Search until `expected` hits show up (indexing is asynchronous: within about 2 s)."""
    for _ in range(100):
        result = await search(rig, q)
        if result["total"] >= expected:
            return result
        await asyncio.sleep(0.1)
    return result


@pytest.fixture
async def corpus(rig: SearchRig) -> dict[str, str]:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    ids = {}
    for name, content in CORPUS.items():
        message = make_message(TENANT, CONVERSATION, content)
        ids[name] = message.id
        await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, message)
    await searchable(rig, "today", 3)
    return ids


def contents(result: dict[str, Any]) -> list[str]:
    return [item["message"]["content"] for item in result["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("deploy", "deploy"),
        ("cafe", "cafe"),
        ("café", "cafe"),
        ("example.com/docs", "url"),
        ("example", "url"),
        ("getting-started", "url"),
        ("snake_case_name", "snake"),
        ("case", "snake"),
        ("HttpClient", "camel"),
        ("client", "camel"),
        ("run", "run"),
    ],
)
async def test_finds_by_word_parts_accents_and_stems(
    rig: SearchRig, corpus: dict[str, str], query: str, expected: str
) -> None:
    result = await search(rig, query)
    assert CORPUS[expected] in contents(result), (query, contents(result))


async def test_quoted_phrase_ranks_exact_matches_first(
    rig: SearchRig, corpus: dict[str, str]
) -> None:
    result = await search(rig, '"ship the release"')
    assert contents(result)[0] == CORPUS["phrase_exact"]


async def test_hits_carry_highlights(rig: SearchRig, corpus: dict[str, str]) -> None:
    result = await search(rig, "deployment")
    assert any("<em>" in fragment for fragment in result["items"][0]["highlights"])


async def test_cursor_pagination_walks_all_hits(rig: SearchRig, corpus: dict[str, str]) -> None:
    first = await search(rig, "today", limit=2)
    rest = await search(rig, "today", limit=2, cursor=first["next_cursor"])
    ids = [i["message"]["id"] for i in first["items"] + rest["items"]]
    assert first["total"] == 3
    assert len(ids) == len(set(ids)) == 3


async def test_query_validation(rig: SearchRig) -> None:
    headers = identity(TENANT, USER)
    for params in ({"q": ""}, {"q": "x" * 257}, {"q": "x", "limit": 101}):
        response = await rig.client.get("/v1/search/messages", params=params, headers=headers)
        assert response.status_code == 422
    assert (await rig.client.get("/v1/search/messages", params={"q": "x"})).status_code == 401
