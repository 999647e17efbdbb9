"""Ids are what they claim to be: every hostile variant of a path segment is refused."""

import pytest
from pydantic import TypeAdapter, ValidationError

from parley_contracts.ids import (
    ConversationId,
    Emoji,
    MessageId,
    emoji_problem,
    is_message_id,
    is_object_id,
)

GOOD_ID = "65f0c0ffee0123456789abcd"
HOSTILE = [
    "",
    "..",
    "../../internal/v1/messages:export",
    "%2e%2e",
    f"{GOOD_ID}/",
    f"{GOOD_ID}?x=1",
    f"{GOOD_ID}#x",
    f"{GOOD_ID}\x00",
    f"{GOOD_ID}\n",
    GOOD_ID.upper(),
    GOOD_ID + "0",
    GOOD_ID * 100,
    "65f0c0ffee0123456789abcg",
]


def test_object_ids_are_24_lowercase_hex_digits_and_nothing_else() -> None:
    assert is_object_id(GOOD_ID)
    adapter = TypeAdapter(ConversationId)
    assert adapter.validate_python(GOOD_ID) == GOOD_ID
    for value in HOSTILE:
        assert not is_object_id(value), value
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_message_ids_are_a_conversation_id_and_a_seq() -> None:
    adapter = TypeAdapter(MessageId)
    for good in (f"{GOOD_ID}-1", f"{GOOD_ID}-999999999999999999"):
        assert is_message_id(good)
        assert adapter.validate_python(good) == good
    hostile = [f"{value}-1" for value in HOSTILE] + [
        f"{GOOD_ID}-0",
        f"{GOOD_ID}-01",
        f"{GOOD_ID}-1000000000000000000",
        f"{GOOD_ID}-9223372036854775808",
        f"{GOOD_ID}--1",
        f"{GOOD_ID}-1/../..",
        f"{GOOD_ID}-1\x00",
    ]
    for value in hostile:
        assert not is_message_id(value), value
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_emoji_are_short_printable_tokens() -> None:
    adapter = TypeAdapter(Emoji)
    for good in ("x", "👍", "👍🏽", "👨‍👩‍👧", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", ":+1:", "❤️"):
        assert emoji_problem(good) is None, good
        assert adapter.validate_python(good) == good
    for bad in (
        "",
        "a b",
        "..",
        "a/b",
        "a\\b",
        "a?b",
        "a#b",
        "%2F",
        "$gt",
        "a\x00",
        "a\u202eb",
        "\ud800",
        "\ue000",
        "x" * 65,
        "\u3000",
        "\t",
    ):
        assert emoji_problem(bad) is not None, repr(bad)
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
