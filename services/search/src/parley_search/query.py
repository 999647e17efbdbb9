"""The search request: what people type, turned into an engine query that finds it.

User text is never passed to a query-string parser (no syntax injection): quoted parts become
phrase clauses, the rest goes through `match` clauses on each analysis of `content`. A query
with nothing to search for (only quotes, punctuation or spaces) is refused, not run: without
a text clause the query would match every message.
"""

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, StringConstraints

from parley_contracts.cursors import Position, decode_cursor, encode_cursor
from parley_contracts.validation import format_timestamp

PHRASE = re.compile(r'"([^"]+)"')
# Letters, digits and symbols (emoji included) are searchable; punctuation, spaces and
# controls are not.
_SEARCHABLE_CATEGORIES: Final = frozenset("LNS")
NOTHING_TO_SEARCH = "q has no text to search for (only quotes, punctuation or spaces)"


def has_text(value: str) -> bool:
    return any(unicodedata.category(char)[0] in _SEARCHABLE_CATEGORIES for char in value)


def split_query(q: str) -> tuple[list[str], str]:
    """(quoted phrases, the remaining words); parts with no text in them are dropped."""
    phrases = [p.strip() for p in PHRASE.findall(q) if has_text(p)]
    rest = PHRASE.sub(" ", q).replace('"', " ").strip()
    return phrases, rest if has_text(rest) else ""


def _searchable(q: str) -> str:
    if not has_text(q):
        raise ValueError(NOTHING_TO_SEARCH)
    return q


SearchText = Annotated[str, AfterValidator(_searchable)]
"""`q` as the API takes it: something in it must be text (API.md: otherwise 422)."""


class SearchPosition(Position):
    """The sort values of the last hit of a page: score, `created_at` (epoch ms), id."""

    score: Annotated[float, Field(allow_inf_nan=False)]
    at: Annotated[int, Field(ge=-(2**62), le=2**62)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]


def cursor_after(sort_values: list[Any]) -> str:
    score, at, message_id = sort_values
    return encode_cursor(SearchPosition(score=float(score), at=int(at), id=str(message_id)))


def search_after(cursor: str) -> list[Any]:
    """The engine's `search_after` for a cursor; anything but a search cursor is a 422."""
    position = decode_cursor(cursor, SearchPosition)
    return [position.score, position.at, position.id]


def text_clauses(q: str) -> dict[str, Any]:
    phrases, rest = split_query(q)
    should: list[dict[str, Any]] = []
    must: list[dict[str, Any]] = []
    for phrase in phrases:
        # A quoted phrase must appear (in some analysis) and ranks far higher when exact.
        must.append(
            {
                "bool": {
                    "should": [
                        {"match_phrase": {"content.exact": {"query": phrase, "boost": 10}}},
                        {"match_phrase": {"content": {"query": phrase, "boost": 2}}},
                        {"match": {"content.parts": {"query": phrase, "operator": "and"}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if rest:
        must.append(
            {
                "bool": {
                    "should": [
                        {"match": {"content": {"query": rest, "operator": "and", "boost": 2}}},
                        {
                            "match": {
                                "content.exact": {"query": rest, "operator": "and", "boost": 3}
                            }
                        },
                        {
                            "match": {
                                "content.parts": {"query": rest, "operator": "and", "boost": 1.5}
                            }
                        },
                        {"match": {"content.prefix": {"query": rest, "operator": "and"}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
        should.append({"match_phrase": {"content.exact": {"query": rest, "boost": 4}}})
    return {"must": must, "should": should}


def search_body(
    *,
    q: str,
    tenant_id: str,
    conversation_ids: list[str],
    sender_id: str | None,
    after: datetime | None,
    before: datetime | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {"term": {"tenant_id": tenant_id}},
        {"terms": {"conversation_id": conversation_ids}},
        {"term": {"deleted": False}},
    ]
    if sender_id:
        filters.append({"term": {"sender_id": sender_id}})
    if after or before:
        bounds: dict[str, str] = {}
        # RFC 3339 in UTC: the engine's date parser refuses offsets beyond ±18:00.
        if after:
            bounds["gt"] = format_timestamp(after)
        if before:
            bounds["lt"] = format_timestamp(before)
        filters.append({"range": {"created_at": bounds}})
    clauses = text_clauses(q)
    body: dict[str, Any] = {
        "query": {
            "bool": {"filter": filters, "must": clauses["must"], "should": clauses["should"]}
        },
        "sort": [{"_score": "desc"}, {"created_at": "desc"}, {"id": "asc"}],
        "size": limit,
        "track_total_hits": True,
        "_source": ["message"],
        "highlight": {
            # The engine escapes the message text as HTML; only the tags it adds are markup.
            "encoder": "html",
            "pre_tags": ["<em>"],
            "post_tags": ["</em>"],
            "require_field_match": False,
            "fields": {
                "content": {"number_of_fragments": 3, "fragment_size": 150},
                "content.parts": {"number_of_fragments": 3, "fragment_size": 150},
                "content.prefix": {"number_of_fragments": 3, "fragment_size": 150},
            },
        },
    }
    if cursor:
        body["search_after"] = search_after(cursor)
    return body
