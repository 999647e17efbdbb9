"""Query building: tiers, filters, cursors. No engine involved."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from parley_contracts.cursors import InvalidInput
from parley_search.operators import parse_query
from parley_search.query import (
    FUZZY,
    STRICT,
    Narrowing,
    SearchText,
    Tier,
    cursor_after,
    has_fuzzy_tier,
    read_cursor,
    search_after,
    tier_body,
)

ORIGIN = datetime(2026, 11, 1, tzinfo=UTC)


def body_for(q: str = "x", tier: Tier = STRICT, **narrowing: Any) -> dict[str, Any]:
    scope = Narrowing(tenant_id="t1", conversation_ids=["c1"], **narrowing)
    return tier_body(parse_query(q), scope, tier=tier, origin=ORIGIN, after=None, size=10)


def bool_query(body: dict[str, Any]) -> dict[str, Any]:
    query = body["query"]
    inner: dict[str, Any] = query["function_score"]["query"] if "function_score" in query else query
    found: dict[str, Any] = inner["bool"]
    return found


def test_body_always_filters_tenant_membership_and_tombstones_first() -> None:
    for q in ("x", "from:ann", "deploment"):
        for tier in (STRICT, FUZZY):
            filters = bool_query(body_for(q, tier))["filter"]
            assert filters[:3] == [
                {"term": {"tenant_id": "t1"}},
                {"terms": {"conversation_id": ["c1"]}},
                {"term": {"deleted": False}},
            ]


def test_text_is_ranked_with_a_recency_decay_and_ties_break_newest_first() -> None:
    body = body_for("deploy")
    functions = body["query"]["function_score"]["functions"]
    assert functions[0] == {"weight": 0.5}
    assert functions[1]["exp"]["created_at"]["origin"] == "2026-11-01T00:00:00.000Z"
    assert body["sort"] == [{"_score": "desc"}, {"created_at": "desc"}, {"id": "asc"}]
    assert body["track_total_hits"] == 10_000


def test_operators_alone_are_a_filter_only_search() -> None:
    body = body_for("has:link", has_link=True)
    assert "function_score" not in body["query"]
    assert "must" not in body["query"]["bool"]
    assert {"term": {"has_link": True}} in body["query"]["bool"]["filter"]


def test_the_fuzzy_tier_excludes_what_the_strict_tier_matches() -> None:
    strict = bool_query(body_for("deploment", STRICT))
    fuzzy = bool_query(body_for("deploment", FUZZY))
    assert strict["must"][-1] in fuzzy["must_not"]
    assert "fuzziness" in str(fuzzy["must"])
    assert "fuzziness" not in str(strict)


@pytest.mark.parametrize(
    ("q", "fuzzy"),
    [
        ("deploment", True),
        ("Brötchne", True),
        ("v2", False),
        ("404", False),
        ("id", False),
        ("the", False),
        ("snake_case_name", False),
        ("HttpClient", False),
        ("os.path", False),
        ("1.2.3", False),
        ("https://example.com", False),
        ("ann@example.com", False),
        ('"exact phrase"', False),
    ],
)
def test_only_plain_words_of_four_letters_or_more_get_a_fuzzy_tier(q: str, fuzzy: bool) -> None:
    assert has_fuzzy_tier(parse_query(q)) is fuzzy


def test_filters_of_parameters_and_operators_both_apply() -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    filters = bool_query(
        body_for(
            "x",
            sender_id="u1",
            senders=["u2"],
            mentions=["u3"],
            after=day,
            since=day,
            until=day,
            has_reaction=True,
            thread_parents=["p1"],
        )
    )["filter"]
    assert {"term": {"sender_id": "u1"}} in filters
    assert {"terms": {"sender_id": ["u2"]}} in filters
    assert {"terms": {"mentions": ["u3"]}} in filters
    assert {"range": {"created_at": {"gt": "2026-01-01T00:00:00.000Z"}}} in filters
    assert {
        "range": {
            "created_at": {"gte": "2026-01-01T00:00:00.000Z", "lt": "2026-01-01T00:00:00.000Z"}
        }
    } in filters
    assert {"term": {"has_reaction": True}} in filters
    assert "p1" in str(filters[-1])


def test_exclusions_are_must_not() -> None:
    must_not = bool_query(body_for('deploy -staging -"dry run"'))["must_not"]
    assert {"match_phrase": {"content.exact": "dry run"}} in must_not
    assert any("staging" in str(clause) for clause in must_not)


def test_cursor_round_trips_with_tier_and_origin_and_rejects_garbage() -> None:
    position = read_cursor(cursor_after([1.5, 1700000000000, "id"], tier=FUZZY, origin=5))
    assert search_after(position) == [1.5, 1700000000000, "id"]
    assert (position.tier, position.origin) == (FUZZY, 5)
    # An old list-shaped cursor, objects where values belong, garbage: all invalid input.
    for cursor in ["not-base64!", "WzEuNSwgMTcwMDAwMDAwMDAwMCwgImlkIl0=", "W3t9LHt9LHt9XQ=="]:
        with pytest.raises(InvalidInput):
            read_cursor(cursor)


@pytest.mark.parametrize("q", ['""', '"', '" "', "!!!", '"..." ,;', "\t \n", '"?"'])
def test_queries_with_nothing_to_search_for_are_refused(q: str) -> None:
    with pytest.raises(ValidationError, match="no text to search for"):
        TypeAdapter(SearchText).validate_python(q)


@pytest.mark.parametrize("q", ["a", "42", "👍", "$", '"x"', '"!!" hello'])
def test_queries_with_text_are_taken(q: str) -> None:
    assert TypeAdapter(SearchText).validate_python(q) == q
    clauses = bool_query(body_for(q))["must"]
    assert clauses, "a query with text always has a text clause (else it matches everything)"


def test_highlights_are_html_encoded_by_the_engine() -> None:
    highlight = body_for()["highlight"]
    assert highlight["encoder"] == "html"
    assert (highlight["pre_tags"], highlight["post_tags"]) == (["<em>"], ["</em>"])


def test_only_eligible_words_get_fuzzy_clauses_and_at_most_eight() -> None:
    fuzzy = bool_query(body_for("deploment 404 snake_cose_name", FUZZY))["must"]
    assert ["fuzziness" in str(clause) for clause in fuzzy] == [True, False, False]
    many = " ".join(f"wordnumber{chr(97 + i)}" for i in range(20))
    clauses = bool_query(body_for(many, FUZZY))["must"]
    assert sum("fuzziness" in str(clause) for clause in clauses) == 8
