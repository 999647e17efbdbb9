"""What an id is, checked where it enters: one strict definition per kind of identifier.

Every id a client sends (in a path, a query or a body) is validated as what it is before it
is used for anything, above all before it becomes part of another URL: a conversation id that
may only be 24 hexadecimal digits cannot carry `../`, `%2F`, `?` or a control character.

- tenant, user and conversation ids are MongoDB ObjectIds: 24 lowercase hexadecimal digits;
- a message id is `<conversation id>-<seq>` (seq 1..10^18-1, no leading zero);
- a reaction emoji is a short printable token: no whitespace, control, format-direction,
  surrogate, private-use or unassigned characters, and none of `/ \\ ? # % $ .`.

The `Annotated` types fit pydantic models and FastAPI parameters (their patterns show in
OpenAPI); the predicates serve code that matches paths by hand (the gateway's route table).
"""

import re
import unicodedata
from typing import Annotated, Final

from pydantic import AfterValidator, StringConstraints

OBJECT_ID_PATTERN: Final = r"^[0-9a-f]{24}$"
MESSAGE_ID_PATTERN: Final = r"^[0-9a-f]{24}-[1-9][0-9]{0,17}$"
# A sound approximation for documents and generators; `emoji_problem` is the full rule.
EMOJI_PATTERN: Final = r"^[^\s/\\?#%$.]+$"
MAX_EMOJI_CHARS: Final = 64

_OBJECT_ID: Final = re.compile(OBJECT_ID_PATTERN[1:-1])
_MESSAGE_ID: Final = re.compile(MESSAGE_ID_PATTERN[1:-1])
_EMOJI_FORBIDDEN_CHARS: Final = frozenset("/\\?#%$.")
# Cc control, Cs surrogate, Co private use, Cn unassigned, Z* separators.
_EMOJI_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
# Direction overrides and marks would let a reaction reorder the text around it.
_BIDI_CONTROLS: Final = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)


def is_object_id(value: str) -> bool:
    """A tenant, user or conversation id: 24 lowercase hexadecimal digits."""
    return _OBJECT_ID.fullmatch(value) is not None


def is_message_id(value: str) -> bool:
    """`<conversation id>-<seq>`."""
    return _MESSAGE_ID.fullmatch(value) is not None


def emoji_problem(value: str) -> str | None:
    """Why `value` is not an acceptable reaction emoji, or None if it is one."""
    if not 1 <= len(value) <= MAX_EMOJI_CHARS:
        return f"an emoji is 1 to {MAX_EMOJI_CHARS} characters"
    for char in value:
        if char in _EMOJI_FORBIDDEN_CHARS:
            return f"an emoji must not contain {char!r}"
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _EMOJI_FORBIDDEN_CATEGORIES:
            return f"an emoji must not contain the character U+{ord(char):04X}"
    return None


def is_emoji(value: str) -> bool:
    return emoji_problem(value) is None


def _object_id(value: str) -> str:
    if not is_object_id(value):
        raise ValueError("an id is 24 lowercase hexadecimal digits")
    return value


def _message_id(value: str) -> str:
    if not is_message_id(value):
        raise ValueError("a message id is <conversation id>-<seq>")
    return value


def _emoji(value: str) -> str:
    problem = emoji_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# The pattern constraint puts the rule in OpenAPI; the validator gives the readable message.
ObjectId = Annotated[
    str,
    StringConstraints(min_length=24, max_length=24, pattern=OBJECT_ID_PATTERN),
    AfterValidator(_object_id),
]
TenantId = ObjectId
UserId = ObjectId
ConversationId = ObjectId
MessageId = Annotated[
    str,
    StringConstraints(min_length=26, max_length=43, pattern=MESSAGE_ID_PATTERN),
    AfterValidator(_message_id),
]
Emoji = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_EMOJI_CHARS, pattern=EMOJI_PATTERN),
    AfterValidator(_emoji),
]
