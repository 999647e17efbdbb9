"""The strict parsers every entrance shares: text, JSON bodies, integers, instants, cursors."""

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from parley_contracts.cursors import InvalidInput, Position, decode_cursor, encode_cursor
from parley_contracts.resources import MessageCreate, ReadUpdate, Signup
from parley_contracts.validation import (
    MAX_JSON_DEPTH,
    MAX_SEQ,
    Instant,
    Seq,
    Timestamp,
    json_problem,
    text_problem,
)


@pytest.mark.parametrize(
    "value", ["a\x00b", "\x01", "a\x1fb", "a\x7fb", "x\ud800y", "\udfff", "\x0b", "\x0c"]
)
def test_text_with_nul_controls_or_lone_surrogates_is_refused(value: str) -> None:
    assert text_problem(value) is not None
    assert text_problem(value, multiline=False) is not None


def test_text_may_hold_tabs_and_line_breaks_but_a_line_may_not() -> None:
    assert text_problem("a\tb\r\nc 👍 é") is None
    assert text_problem("a\nb", multiline=False) is not None


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "at"),
    [
        ({"content": "x", "metadata": {"a\x00b": 1}}, "metadata.a\\u0000b"),
        ({"content": "x", "metadata": {"list": [1, "ok", "bad\x00"]}}, "metadata.list[2]"),
        ({"content": "x\ud800y"}, "content"),
        ({"content": "x", "metadata": {"n": 2**63}}, "metadata.n"),
        ({"content": "x", "metadata": {"n": -(2**63) - 1}}, "metadata.n"),
        ({"content": "x", "metadata": {"f": float("nan")}}, "metadata.f"),
        ({"content": "x", "metadata": {"f": float("inf")}}, "metadata.f"),
        ({"content": "x", "metadata": {"k\ud800": 1}}, "metadata.k\\ud800"),
    ],
)
def test_every_part_of_a_body_is_checked_and_named(body: dict[str, Any], at: str) -> None:
    found = json_problem(body)
    assert found is not None
    assert found[0] == at
    with pytest.raises(ValidationError) as caught:
        MessageCreate.model_validate(body)
    (error,) = caught.value.errors()
    assert error["ctx"]["at"] == at


def test_nesting_is_bounded_without_recursion() -> None:
    assert json_problem({"a": nested(MAX_JSON_DEPTH - 2)}) is None
    assert json_problem({"a": nested(MAX_JSON_DEPTH)}) is not None
    # Deeper than Python's recursion limit: still one answer, no RecursionError.
    deep = json.loads("[" * 900 + "]" * 900)
    found = json_problem({"content": "x", "metadata": {"a": deep}})
    assert found is not None
    assert "nest" in found[1]


def test_integers_at_the_64_bit_bounds_and_plain_text_pass() -> None:
    body = {"content": "line\nnext\ttab", "metadata": {"max": 2**63 - 1, "min": -(2**63)}}
    assert json_problem(body) is None
    assert MessageCreate.model_validate(body).metadata["max"] == 2**63 - 1


def test_metadata_arrays_may_not_hold_arrays() -> None:
    with pytest.raises(ValidationError, match="array directly inside an array"):
        MessageCreate.model_validate({"content": "x", "metadata": {"a": [[1]]}})
    assert MessageCreate.model_validate({"content": "x", "metadata": {"a": [{"b": [1]}]}})


def test_every_string_field_of_every_body_follows_the_text_rule() -> None:
    with pytest.raises(ValidationError):
        Signup.model_validate(
            {"tenant": "acme", "username": "ada", "email": "a@x.io", "password": "pass\x00word"}
        )


def test_seqs_are_bounded() -> None:
    adapter = TypeAdapter(Seq)
    assert adapter.validate_python(MAX_SEQ) == MAX_SEQ
    for value in (-1, MAX_SEQ + 1, 2**63, 2**64):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    with pytest.raises(ValidationError):
        ReadUpdate.model_validate({"seq": 2**63})


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:00+23:59", "2026-01-01T00:00:00-23:59", "2026-06-01T12:00+18:30"]
)
def test_instants_with_unusual_offsets_become_utc(text: str) -> None:
    value = TypeAdapter(Instant).validate_python(text)
    assert value.utcoffset() is not None
    assert value.tzinfo == UTC
    assert TypeAdapter(Timestamp).validate_python(text).tzinfo == UTC


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+01:00"])
def test_instants_outside_the_calendar_once_in_utc_are_validation_errors(text: str) -> None:
    for kind in (Instant, Timestamp):
        with pytest.raises(ValidationError, match="out of range"):
            TypeAdapter(kind).validate_python(text)


def test_naive_instants_are_taken_as_utc() -> None:
    value = TypeAdapter(Instant).validate_python("2026-01-01T10:00:00")
    assert value == datetime(2026, 1, 1, 10, tzinfo=UTC)


class Window(Position):
    before: Seq | None = None
    after: Seq | None = None


def raw_cursor(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(Window(before=5)), Window) == Window(before=5)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "abc",
        "é",
        "x" * 600,
        raw_cursor(b"[1, 2, 3]"),
        raw_cursor(b'{"before": "5"}'),
        raw_cursor(b'{"before": true}'),
        raw_cursor(b'{"before": -1}'),
        raw_cursor(b'{"before": 9223372036854775808}'),
        raw_cursor(b'{"before": 1.5}'),
        raw_cursor(b'{"before": {}}'),
        raw_cursor(b'{"other": 1}'),
        raw_cursor(b"\xff\xfe"),
        raw_cursor(b"[" * 200 + b"]" * 200),
    ],
)
def test_anything_but_a_cursor_of_the_shape_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor, Window)
    assert caught.value.loc == "query.cursor"
