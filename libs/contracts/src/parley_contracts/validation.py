"""Validation rules shared by every request body and resource."""

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_CONTENT_CHARS: Final = 8000
MAX_METADATA_BYTES: Final = 4 * 1024
MAX_BODY_BYTES: Final = 64 * 1024
DEFAULT_PAGE_LIMIT: Final = 50
MAX_PAGE_LIMIT: Final = 100
MAX_SEARCH_QUERY_CHARS: Final = 256
SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
USERNAME_PATTERN: Final = r"^[A-Za-z0-9_.-]{2,64}$"
MIN_PASSWORD_CHARS: Final = 8


MAX_JSON_DEPTH: Final = 32
"""How deeply objects and arrays of a request body may nest (deeper is a 422, not a stack)."""
MAX_SEQ: Final = 2**53 - 1
"""The largest `seq` any request may name: exact in a double (Redis Lua, JavaScript clients)."""
MAX_INT64: Final = 2**63 - 1

# Text may hold tabs and line breaks; nothing else below U+0020, no DEL and no lone surrogate
# (which no UTF-8 encoder, and so no store or search engine, accepts).
_UNSAFE_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# A line (an object key, a name, a path or query value) holds no control character at all.
_UNSAFE_LINE: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _describe(char: str) -> str:
    code = ord(char)
    if code == 0:
        return "a NUL character"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    return f"the control character U+{code:04X}"


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """Why `value` is not acceptable text, or None. Multiline text may hold tab, CR and LF."""
    found = (_UNSAFE_TEXT if multiline else _UNSAFE_LINE).search(value)
    return None if found is None else f"text must not contain {_describe(found.group())}"


def key_problem(key: str) -> str | None:
    """Why `key` is not acceptable as an object key of a request body, or None."""
    if key.startswith("$") or "." in key:
        return "keys must not start with '$' or contain '.'"
    return text_problem(key, multiline=False)


def printable(value: str) -> str:
    """`value` with each control character and lone surrogate written as `\\uXXXX`, so it can be
    quoted back in an error message (a lone surrogate cannot even be encoded as UTF-8)."""
    return _UNSAFE_LINE.sub(lambda found: f"\\u{ord(found.group()):04x}", value)


def _child_path(path: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{path}[{step}]"
    step = printable(step)
    return f"{path}.{step}" if path else step


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """(where, why) of the first part of a parsed JSON value that no request may carry, or None.

    One pass, without recursion (a deeply nested body cannot exhaust the stack): nesting
    deeper than `max_depth`; keys that start with `$` or contain `.` (they would smuggle
    query operators or dotted paths into the document store) or hold control characters;
    strings with NUL, other control characters or lone surrogates; integers beyond 64 bits
    and non-finite numbers (no store takes them).
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return path, f"objects and arrays must not nest more than {max_depth} deep"
            children: list[tuple[Any, str, int]] = []
            if isinstance(item, dict):
                for key, child in item.items():
                    here = _child_path(path, str(key))
                    problem = key_problem(key) if isinstance(key, str) else None
                    if problem is not None:
                        return here, problem
                    children.append((child, here, depth + 1))
            else:
                children = [
                    (child, _child_path(path, index), depth + 1) for index, child in enumerate(item)
                ]
            stack.extend(reversed(children))  # depth-first, in document order
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return path, problem
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not -MAX_INT64 - 1 <= item <= MAX_INT64:
                return path, "integers must fit in 64 bits"
        elif isinstance(item, float) and not math.isfinite(item):
            return path, "numbers must be finite"
    return None


def forbidden_key_path(value: Any) -> str | None:
    """The path of the first object key that starts with `$` or contains `.`, if any."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        children: list[tuple[Any, str]] = []
        if isinstance(item, dict):
            for key, child in item.items():
                here = _child_path(path, str(key))
                if isinstance(key, str) and (key.startswith("$") or "." in key):
                    return here
                children.append((child, here))
        elif isinstance(item, list):
            children = [(child, _child_path(path, i)) for i, child in enumerate(item)]
        stack.extend(reversed(children))
    return None


class RequestBody(BaseModel):
    """Base of every JSON request body: unknown fields rejected, and every part of the body
    checked by `json_problem` before any field is (the error's `ctx.at` names the part)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unsafe_parts(cls, data: Any) -> Any:
        found = json_problem(data)
        if found is not None:
            at, problem = found
            raise PydanticCustomError("unsafe_input", "{problem}", {"at": at, "problem": problem})
        return data


def _trimmed_content(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("content must not be blank")
    if len(stripped) > MAX_CONTENT_CHARS:
        raise ValueError(f"content must be at most {MAX_CONTENT_CHARS} characters")
    return stripped


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    bad = forbidden_key_path(value)
    if bad is not None:
        raise ValueError(f"metadata key {bad!r} must not start with '$' or contain '.'")
    nested = _nested_array_path(value)
    if nested is not None:
        # FerretDB (the local document store) cannot hold an array directly inside an array.
        raise ValueError(f"metadata {nested!r} is an array directly inside an array")
    return value


def _nested_array_path(value: Any) -> str | None:
    stack: list[tuple[Any, str, bool]] = [(value, "", False)]
    while stack:
        item, path, in_array = stack.pop()
        if isinstance(item, list):
            if in_array:
                return path
            stack.extend((child, _child_path(path, i), True) for i, child in enumerate(item))
        elif isinstance(item, dict):
            stack.extend((child, _child_path(path, str(k)), False) for k, child in item.items())
    return None


def _slug(value: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise ValueError(
            "slug must be 1-63 lowercase letters, digits or '-', starting alphanumeric"
        )
    return value


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and `Z`, e.g. `2026-11-23T10:00:00.123Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _in_utc(value: datetime) -> datetime:
    """The same instant in UTC (a naive value is taken as UTC already). Any offset Python
    parses is accepted; an instant outside years 1..9999 once in UTC is a validation error."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the instant is out of range once converted to UTC") from exc


def _as_utc(value: datetime) -> datetime:
    """UTC, truncated to milliseconds: what MongoDB stores and what the API prints."""
    value = _in_utc(value)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


MessageContent = Annotated[
    str,
    AfterValidator(_trimmed_content),
    # Documented bounds (enforced after trimming, so the raw text may carry extra spaces).
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_CONTENT_CHARS}),
]
Metadata = Annotated[dict[str, Any], AfterValidator(_bounded_metadata)]
Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=SLUG_PATTERN), AfterValidator(_slug)
]
Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
"""An instant, in UTC to the millisecond: resources, and dates clients send (any offset)."""
Instant = Annotated[datetime, AfterValidator(_in_utc)]
"""An instant in UTC at full precision (positions inside cursors)."""
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]
"""A position in a conversation's timeline, as clients may name it."""
