"""Opaque cursors: base64 of a small JSON object; clients must not parse them."""

import base64
import json
from typing import Any

from parley_kit.problems import Unprocessable


def encode_cursor(**values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise Unprocessable("the cursor is not valid") from exc
    if not isinstance(value, dict):
        raise Unprocessable("the cursor is not valid")
    return value
