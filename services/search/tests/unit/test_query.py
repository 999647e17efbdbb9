"""Query building: quoted phrases, filters, cursors. No engine involved."""

import pytest

from parley_kit.problems import Unprocessable
from parley_search.query import decode_cursor, encode_cursor, search_body, split_query


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
    assert decode_cursor(encode_cursor([1.5, 1700000000000, "id"])) == [1.5, 1700000000000, "id"]
    with pytest.raises(Unprocessable):
        decode_cursor("not-base64!")
