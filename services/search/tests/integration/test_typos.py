"""Typo tolerance on the real engine: misspelled words match, exact and prefix matches rank
first, and short words, numbers, versions and identifiers are matched exactly only."""

from typing import Any

import pytest
from search_suite import SearchRig, index_all, make_message, search_page

pytestmark = pytest.mark.integration

TENANT, USER, CONVERSATION = "tenant-typo", "user-typo", "conv-typo"

CORPUS = {
    "english": "The deployment finished at noon",
    "german": "Ich habe frische Brötchen gekauft",
    "french": "Le fromage était délicieux",
    "version": "release v2 is out",
    "status": "the page answers 404 today",
    "short": "add the id column",
    "identifier": "rename snake_case_name and HttpClient",
}


@pytest.fixture
async def corpus(rig: SearchRig) -> dict[str, str]:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    messages = {name: make_message(TENANT, CONVERSATION, text) for name, text in CORPUS.items()}
    await index_all(rig, list(messages.values()), TENANT)
    return {name: m.id for name, m in messages.items()}


async def search(rig: SearchRig, q: str, **params: Any) -> Any:
    return await search_page(rig, TENANT, USER, q=q, **params)


def contents(page: Any) -> list[str]:
    return [item["message"]["content"] for item in page["items"]]


@pytest.mark.parametrize(
    ("q", "expected", "suggestion"),
    [
        ("deploymnet", "english", "deployment"),  # two letters swapped
        ("deploment", "english", "deployment"),  # a letter dropped
        ("deplooyment", "english", "deployment"),  # a letter doubled
        ("deplayment", "english", "deployment"),  # a wrong letter
        ("Brötchne", "german", "brötchen"),
        ("Brotchn", "german", "brötchen"),  # accents folded, a letter dropped
        ("Bröttchen", "german", "brötchen"),
        ("Bratchen", "german", "brötchen"),
        ("délicieus", "french", "délicieux"),  # a wrong letter, accents folded
        ("deployment finsihed", "english", "deployment finished"),  # one word exact
    ],
)
async def test_a_misspelled_word_matches_and_is_flagged(
    rig: SearchRig, corpus: dict[str, str], q: str, expected: str, suggestion: str
) -> None:
    page = await search(rig, q)
    assert contents(page) == [CORPUS[expected]], q
    assert page["corrected"] is True
    assert page["did_you_mean"] == suggestion
    assert any("<em>" in fragment for fragment in page["items"][0]["highlights"])


@pytest.mark.parametrize(
    "q",
    ["v3", "v1", "405", "403", "iq", "snake_cose_name", "HtpClient", "HttpClinet"],
)
async def test_short_words_numbers_versions_and_identifiers_match_exactly(
    rig: SearchRig, corpus: dict[str, str], q: str
) -> None:
    page = await search(rig, q)
    assert page["items"] == [], (q, contents(page))


@pytest.mark.parametrize(
    ("q", "expected"),
    [("v2", "version"), ("404", "status"), ("id", "short"), ("snake_case_name", "identifier")],
)
async def test_exact_tokens_still_match(
    rig: SearchRig, corpus: dict[str, str], q: str, expected: str
) -> None:
    page = await search(rig, q)
    assert contents(page) == [CORPUS[expected]]
    assert page["corrected"] is False
    assert page["did_you_mean"] is None


async def test_exact_and_prefix_matches_rank_above_fuzzy_ones(rig: SearchRig) -> None:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    exact = make_message(TENANT, CONVERSATION, "we finish today")
    prefix = make_message(TENANT, CONVERSATION, "finishing touches on the finished draft")
    # Newer, and with the (fuzzy) word repeated: it would outscore the others in one tier.
    fuzzy = make_message(TENANT, CONVERSATION, "finnish finnish finnish sauna")
    await index_all(rig, [exact, prefix, fuzzy], TENANT)

    page = await search(rig, "finish")
    ids = [item["message"]["id"] for item in page["items"]]

    assert set(ids[:2]) == {exact.id, prefix.id}
    assert ids[2:] == [fuzzy.id]
    assert page["total"] == 3
    assert page["corrected"] is True  # the page shows a fuzzy-only hit
    assert page["did_you_mean"] is None  # exact matches exist: nothing to correct
    fuzzy_only = await search(rig, "finish", limit=2)
    assert fuzzy_only["corrected"] is False  # this page has strict hits only


async def test_exact_only_words_stay_exact_beside_a_misspelled_one(
    rig: SearchRig, corpus: dict[str, str]
) -> None:
    assert contents(await search(rig, "pgae answers 404")) == [CORPUS["status"]]
    assert (await search(rig, "pgae answers 405"))["items"] == []
