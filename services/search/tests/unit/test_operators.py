"""The `q` parser: words, phrases, exclusions and operators; 422s naming the token."""

from datetime import UTC, datetime

import pytest

from parley_contracts.cursors import InvalidInput
from parley_search.operators import fuzzy_eligible, parse_query, plain_query
from parley_search.suggestions import did_you_mean, edit_distance


def test_words_phrases_and_exclusions() -> None:
    parsed = parse_query('deploy "the release" -staging -"dry run" now')
    assert parsed.words == ["deploy", "now"]
    assert parsed.phrases == ["the release"]
    assert parsed.excluded_words == ["staging"]
    assert parsed.excluded_phrases == ["dry run"]
    assert not parsed.has_operators


def test_unbalanced_quotes_are_plain_words() -> None:
    parsed = parse_query('say "hello')
    assert (parsed.phrases, parsed.words) == ([], ["say", "hello"])


def test_every_operator() -> None:
    parsed = parse_query(
        'from:ann from:bob in:general in:"Launch plans" mentions:me has:link has:reaction '
        "is:thread after:2026-01-01 before:2026-02-01 budget"
    )
    assert parsed.senders == ["ann", "bob"]
    assert parsed.conversations == ["general", "Launch plans"]
    assert parsed.mentions == ["me"]
    assert parsed.has_link
    assert parsed.has_reaction
    assert parsed.is_thread
    assert parsed.since == datetime(2026, 1, 2, tzinfo=UTC)  # after the day named
    assert parsed.until == datetime(2026, 2, 1, tzinfo=UTC)  # before the day named
    assert parsed.words == ["budget"]


def test_during_is_one_utc_day_and_dates_intersect() -> None:
    parsed = parse_query("during:2026-03-04 after:2026-03-01")
    assert parsed.since == datetime(2026, 3, 4, tzinfo=UTC)
    assert parsed.until == datetime(2026, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("q", "token"),
    [
        ("foo:bar budget", "foo:bar"),
        ("before:2026-13-01", "before:2026-13-01"),
        ("after:yesterday", "after:yesterday"),
        ("during:2026-2-1", "during:2026-2-1"),
        ("has:attachment", "has:attachment"),
        ("is:starred", "is:starred"),
        ("from: x", "from:"),
        ("-from:ann x", "-from:ann"),
        ('in:"" x', 'in:""'),
    ],
)
def test_unknown_operators_and_bad_values_name_the_token(q: str, token: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_query(q)
    assert refused.value.loc == "query.q"
    assert f"`{token}`" in refused.value.msg


@pytest.mark.parametrize(
    "q", ["https://example.com/docs", "localhost:8080", "agenda: budget", "10:30", "TODO:fix"]
)
def test_colons_that_are_text_are_not_operators(q: str) -> None:
    parsed = parse_query(q)
    assert parsed.words
    assert not parsed.has_operators


@pytest.mark.parametrize("q", ['""', '"!!"', "-staging", '-"dry run"', "- -"])
def test_no_text_and_no_operators_is_refused(q: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_query(q)
    assert refused.value.loc == "query.q"


def test_operators_alone_are_a_filter_only_search() -> None:
    parsed = parse_query("from:ann -staging")
    assert not parsed.has_search_text
    assert parsed.has_operators


@pytest.mark.parametrize(
    ("word", "eligible"),
    [
        ("deployment", True),
        ("café", True),
        ("Brötchen", True),
        ("id", False),
        ("the", False),
        ("v2", False),
        ("404", False),
        ("1.2.3", False),
        ("snake_case", False),
        ("camelCase", False),
        ("os.path", False),
        ("ann@example.com", False),
    ],
)
def test_fuzzy_eligibility(word: str, eligible: bool) -> None:
    assert fuzzy_eligible(word) is eligible


def test_edit_distance_counts_swaps_as_one() -> None:
    assert edit_distance("deployment", "dpeloyment") == 1
    assert edit_distance("deployment", "deploment") == 1
    assert edit_distance("deployment", "deplooyment") == 1
    assert edit_distance("deployment", "deplayment") == 1
    assert edit_distance("deployment", "diploma") > 2


def test_did_you_mean_uses_only_the_highlighted_words() -> None:
    fragments = ["The <em>deployment</em> finished", "a <em>Brötchen</em> &amp; tea"]
    q = "from:ann deploment brötchne"
    assert did_you_mean(q, parse_query(q), fragments) == "from:ann deployment brötchen"
    assert did_you_mean("deployment", parse_query("deployment"), fragments) is None
    assert did_you_mean("zzzzzz", parse_query("zzzzzz"), fragments) is None


def test_plain_syntax_searches_every_token_as_text() -> None:
    parsed = plain_query('note:x -draft "deploy now"')
    assert parsed.words == ["note:x", "-draft", "deploy", "now"]
    assert not parsed.has_operators
    assert not parsed.excluded_words
    assert not parsed.phrases
    with pytest.raises(InvalidInput):
        plain_query('"" ...')
