"""Query building: quoted phrases, filters, cursors. No engine involved."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from parley_contracts.cursors import InvalidInput
from parley_search.query import (
    SearchText,
    cursor_after,
    search_after,
    search_body,
    split_query,
)


def body_for(q: str = "x", **params: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "q": q,
        "tenant_id": "t1",
        "conversation_ids": ["c1"],
        "sender_id": None,
        "after": None,
        "before": None,
        "cursor": None,
        "limit": 10,
    }
    return search_body(**(values | params))


def test_quoted_phrases_are_split_from_words() -> None:
    phrases, rest = split_query('deploy "the release" now')
    assert phrases == ["the release"]
    assert rest.split() == ["deploy", "now"]


def test_unbalanced_quotes_are_plain_words() -> None:
    phrases, rest = split_query('say "hello')
    assert phrases == []
    assert rest.split() == ["say", "hello"]


def test_body_always_filters_tenant_membership_and_tombstones() -> None:
    body = search_body(
        q="x",
        tenant_id="t1",
        conversation_ids=["c1"],
        sender_id=None,
        after=None,
        before=None,
        cursor=None,
        limit=10,
    )
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"tenant_id": "t1"}} in filters
    assert {"terms": {"conversation_id": ["c1"]}} in filters
    assert {"term": {"deleted": False}} in filters
    assert body["sort"][0] == {"_score": "desc"}


def test_cursor_round_trips_and_rejects_garbage() -> None:
    assert search_after(cursor_after([1.5, 1700000000000, "id"])) == [1.5, 1700000000000, "id"]
    # An old list-shaped cursor, objects where values belong, garbage: all invalid input.
    for cursor in ["not-base64!", "WzEuNSwgMTcwMDAwMDAwMDAwMCwgImlkIl0=", "W3t9LHt9LHt9XQ=="]:
        with pytest.raises(InvalidInput):
            search_after(cursor)


@pytest.mark.parametrize("q", ['""', '"', '" "', "!!!", '"..." ,;', "\t \n", '"?"'])
def test_queries_with_nothing_to_search_for_are_refused(q: str) -> None:
    with pytest.raises(ValidationError, match="no text to search for"):
        TypeAdapter(SearchText).validate_python(q)


@pytest.mark.parametrize("q", ["a", "42", "👍", "$", '"x"', '"!!" hello'])
def test_queries_with_text_are_taken(q: str) -> None:
    assert TypeAdapter(SearchText).validate_python(q) == q
    clauses = body_for(q)["query"]["bool"]["must"]
    assert clauses, "a query with text always has a text clause (else it matches everything)"


def test_phrases_without_text_are_dropped() -> None:
    assert split_query('"!!" hello "..."') == ([], "hello")


def test_date_bounds_are_sent_in_utc() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    body = body_for(after=after, before=after)
    (bounds,) = [f["range"]["created_at"] for f in body["query"]["bool"]["filter"] if "range" in f]
    assert bounds == {"gt": "2026-01-01T00:00:00.000Z", "lt": "2026-01-01T00:00:00.000Z"}


def test_highlights_are_html_encoded_by_the_engine() -> None:
    highlight = body_for()["highlight"]
    assert highlight["encoder"] == "html"
    assert (highlight["pre_tags"], highlight["post_tags"]) == (["<em>"], ["</em>"])
