"""Opaque cursors: one codec for every paginated list, with a strict shape per list.

A cursor is the base64url of a small JSON object that a `Position` model describes. Clients
must not parse cursors, but they can send anything as one: decoding checks the exact shape
(strict types, bounded numbers, no unknown fields), so whatever a service does with a position
it decoded is within what the service itself would have written. Anything else is an
`InvalidInput` naming the parameter (a 422 problem), never an error deeper down.
"""

import base64
import binascii
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_CURSOR_CHARS: Final = 512


class InvalidInput(ValueError):
    """A request part that cannot be what it claims to be (`loc` names it, e.g.
    `query.cursor`); rendered as a 422 problem by every service."""

    def __init__(self, loc: str, msg: str, type: str = "value_error") -> None:
        super().__init__(f"{loc}: {msg}")
        self.loc = loc
        self.msg = msg
        self.type = type


class Position(BaseModel):
    """Where a page ends. Subclasses list the fields; types are enforced strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


P = TypeVar("P", bound=Position)


def encode_cursor(position: Position) -> str:
    return base64.urlsafe_b64encode(position.model_dump_json(exclude_none=True).encode()).decode()


def decode_cursor(cursor: str, shape: type[P], *, loc: str = "query.cursor") -> P:
    """The position a cursor of `shape` holds, or `InvalidInput` for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidInput(loc, "the cursor is not valid", "cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        return shape.model_validate_json(raw)
    except (ValueError, binascii.Error, ValidationError) as exc:
        # UnicodeError (a non-ASCII cursor) and ValidationError are ValueErrors too.
        raise InvalidInput(loc, "the cursor is not valid", "cursor") from exc
