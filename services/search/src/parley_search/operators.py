"""What people type into `q`, split into text and operators (pure: no I/O, no engine).

Grammar, token by token (whitespace separates tokens):
- `"exact phrase"` and `-"excluded phrase"`;
- `name:value` with a lowercase `name` and a value (`in:"Launch plans"` may quote it) is an
  operator; an unknown name is refused (422) unless the token is plainly text: a URL
  (`https://…`) or a host and port (`localhost:8080`). Quote it to search the text instead;
- `-word` excludes a word; anything else is a word to search for.

Dates are UTC days (`YYYY-MM-DD`): `during:` is that day, `before:` ends where the day starts,
`after:` starts where the next day starts (both exclusive of the day named, like Slack).
Repeating `from:`, `in:` or `mentions:` accepts any of the values; everything else must all hold.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from parley_contracts.cursors import InvalidInput

LOC: Final = "query.q"
NOTHING_TO_SEARCH = "q has no text to search for (only quotes, punctuation or spaces)"
ONLY_EXCLUSIONS = "q only excludes words; add a word or an operator to search for"

# Letters, digits and symbols (emoji included) are searchable; punctuation, spaces and
# controls are not.
_SEARCHABLE_CATEGORIES: Final = frozenset("LNS")

_TOKEN = re.compile(
    r'(?P<neg>-)?(?:(?P<key>[a-z]+):)?"(?P<quoted>[^"]*)"'  # "phrase", -"phrase", in:"title"
    r'|(?P<word>[^\s"]+)'
)
_OPERATOR = re.compile(r"(?P<neg>-)?(?P<key>[a-z]+):(?P<value>.*)", re.DOTALL)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

OPERATORS: Final = (
    "from",
    "in",
    "mentions",
    "before",
    "after",
    "during",
    "has",
    "is",
)
HAS_VALUES: Final = ("link", "reaction")
IS_VALUES: Final = ("thread",)


def has_text(value: str) -> bool:
    return any(unicodedata.category(char)[0] in _SEARCHABLE_CATEGORIES for char in value)


@dataclass
class ParsedQuery:
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    excluded_words: list[str] = field(default_factory=list)
    excluded_phrases: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)  # usernames
    conversations: list[str] = field(default_factory=list)  # ids or titles
    mentions: list[str] = field(default_factory=list)  # usernames or "me"
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    has_link: bool = False
    has_reaction: bool = False
    is_thread: bool = False

    @property
    def text(self) -> str:
        """The words to search for, as one string (phrases apart)."""
        return " ".join(self.words)

    @property
    def has_search_text(self) -> bool:
        return bool(self.words or self.phrases)

    @property
    def has_operators(self) -> bool:
        return bool(
            self.senders
            or self.conversations
            or self.mentions
            or self.since
            or self.until
            or self.has_link
            or self.has_reaction
            or self.is_thread
        )


def _refuse(token: str, why: str) -> InvalidInput:
    return InvalidInput(LOC, f"`{token}`: {why}")


def _day(token: str, value: str) -> datetime:
    if not _DAY.fullmatch(value):
        raise _refuse(token, "a date must be YYYY-MM-DD (a UTC day)")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _refuse(token, "not a calendar date") from None
    if day.year < 1971 or day.year > 9998:
        raise _refuse(token, "the date is out of range")
    return datetime.combine(day, time(), tzinfo=UTC)


def _is_plain_text(key: str, value: str) -> bool:
    """`https://example.com`, `localhost:8080`, `agenda:`: a colon that is part of the text."""
    return value.startswith("//") or value.isdigit() or (not value and key not in OPERATORS)


def _apply(parsed: ParsedQuery, token: str, key: str, value: str) -> None:
    if key not in OPERATORS:
        known = ", ".join(f"{name}:" for name in OPERATORS)
        raise _refuse(token, f"unknown operator `{key}:` (known: {known}; quote text to search it)")
    if not value.strip():
        raise _refuse(token, f"`{key}:` needs a value")
    if key == "from":
        parsed.senders.append(value)
    elif key == "in":
        parsed.conversations.append(value)
    elif key == "mentions":
        parsed.mentions.append(value)
    elif key in ("before", "after", "during"):
        start = _day(token, value)
        next_day = start + timedelta(days=1)
        since = next_day if key == "after" else start if key == "during" else None
        until = start if key == "before" else next_day if key == "during" else None
        if since is not None:
            parsed.since = max(parsed.since, since) if parsed.since else since
        if until is not None:
            parsed.until = min(parsed.until, until) if parsed.until else until
    elif key == "has":
        if value not in HAS_VALUES:
            raise _refuse(token, f"`has:` takes {' or '.join(HAS_VALUES)}")
        if value == "link":
            parsed.has_link = True
        else:
            parsed.has_reaction = True
    else:  # "is"
        if value not in IS_VALUES:
            raise _refuse(token, f"`is:` takes {' or '.join(IS_VALUES)}")
        parsed.is_thread = True


def parse_query(q: str) -> ParsedQuery:
    """`q` as text and operators; `InvalidInput` (a 422 on `q`) naming the offending token."""
    parsed = ParsedQuery()
    for match in _TOKEN.finditer(q):
        token = match.group(0)
        quoted = match.group("quoted")
        if quoted is not None:
            key, negated = match.group("key"), bool(match.group("neg"))
            if key is not None:
                if negated:
                    raise _refuse(token, "operators cannot be excluded")
                _apply(parsed, token, key, quoted.strip())
            elif has_text(quoted):
                target = parsed.excluded_phrases if negated else parsed.phrases
                target.append(quoted.strip())
            continue
        operator = _OPERATOR.fullmatch(token)
        if operator is not None and not _is_plain_text(operator["key"], operator["value"]):
            if operator["neg"]:
                raise _refuse(token, "operators cannot be excluded")
            _apply(parsed, token, operator["key"], operator["value"])
        elif token.startswith("-") and has_text(token[1:]):
            parsed.excluded_words.append(token[1:])
        elif has_text(token):
            parsed.words.append(token)
    if not parsed.has_search_text and not parsed.has_operators:
        exclusions = parsed.excluded_words or parsed.excluded_phrases
        raise InvalidInput(LOC, ONLY_EXCLUSIONS if exclusions else NOTHING_TO_SEARCH)
    return parsed


def plain_query(q: str) -> ParsedQuery:
    """`q` as words only, for clients that predate the operators (the seed's `/api` search):
    `note:x`, `-draft` and quotes are searched as the text they are, never as syntax."""
    words = [token for token in q.replace('"', " ").split() if has_text(token)]
    if not words:
        raise InvalidInput(LOC, NOTHING_TO_SEARCH)
    return ParsedQuery(words=words)


# --- which words may be matched fuzzily ----------------------------------------------------

_CASE_CHANGE = re.compile(r"[a-z][A-Z]")
MIN_FUZZY_CHARS: Final = 4


def fuzzy_eligible(word: str) -> bool:
    """Only plain words of 4+ letters: short words, numbers, versions (`v2`, `1.2.3`), URLs,
    emails and code identifiers (`snake_case`, `camelCase`, `os.path`) match exactly."""
    return len(word) >= MIN_FUZZY_CHARS and word.isalpha() and not _CASE_CHANGE.search(word)
