"""Validation rules shared by every request body and resource."""

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, model_validator

MAX_CONTENT_CHARS: Final = 8000
MAX_METADATA_BYTES: Final = 4 * 1024
MAX_BODY_BYTES: Final = 64 * 1024
DEFAULT_PAGE_LIMIT: Final = 50
MAX_PAGE_LIMIT: Final = 100
MAX_SEARCH_QUERY_CHARS: Final = 256
SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
USERNAME_PATTERN: Final = r"^[A-Za-z0-9_.-]{2,64}$"
MIN_PASSWORD_CHARS: Final = 8


def forbidden_key_path(value: Any, path: str = "") -> str | None:
    """The path of the first object key that starts with `$` or contains `.`, if any.

    Such keys could smuggle query operators or dotted paths into the document store.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (key.startswith("$") or "." in key):
                return here
            found = forbidden_key_path(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = forbidden_key_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


class RequestBody(BaseModel):
    """Base of every JSON request body: unknown fields rejected, operator keys rejected."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_operator_keys(cls, data: Any) -> Any:
        bad = forbidden_key_path(data)
        if bad is not None:
            raise ValueError(
                f"key {bad!r} is not allowed: keys must not start with '$' or contain '.'"
            )
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
    return value


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


def _as_utc(value: datetime) -> datetime:
    """UTC, truncated to milliseconds: what MongoDB stores and what the API prints."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


MessageContent = Annotated[str, AfterValidator(_trimmed_content)]
Metadata = Annotated[dict[str, Any], AfterValidator(_bounded_metadata)]
Slug = Annotated[str, AfterValidator(_slug)]
Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
