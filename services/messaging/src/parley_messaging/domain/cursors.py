"""What messaging's cursors hold: one `Position` per list, encoded and decoded strictly by the
shared codec (`parley_contracts.cursors`); a cursor of any other shape is a 422."""

from typing import Annotated

from pydantic import StringConstraints

from parley_contracts.cursors import Position, decode_cursor, encode_cursor
from parley_contracts.validation import Instant, Seq

StoredId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TimelinePosition(Position):
    """History: older than `before`, or (the gap-fill form) newer than `after`."""

    before: Seq | None = None
    after: Seq | None = None


class ThreadPosition(Position):
    after: Seq


class ActivityPosition(Position):
    """The caller's conversations, most recent activity first: where the page ended."""

    at: Instant
    id: StoredId


class ExportPosition(Position):
    after: StoredId


__all__ = [
    "ActivityPosition",
    "ExportPosition",
    "ThreadPosition",
    "TimelinePosition",
    "decode_cursor",
    "encode_cursor",
]
