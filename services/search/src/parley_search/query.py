"""The search request: what people type, turned into an engine query that finds it.

User text is never passed to a query-string parser (no syntax injection): quoted parts become
phrase clauses, the rest goes through `match` clauses on each analysis of `content`.
"""

import base64
import json
import re
from datetime import datetime
from typing import Any

from parley_kit.problems import Unprocessable

PHRASE = re.compile(r'"([^"]+)"')


def split_query(q: str) -> tuple[list[str], str]:
    """(quoted phrases, the remaining words)."""
    phrases = [p.strip() for p in PHRASE.findall(q) if p.strip()]
    rest = PHRASE.sub(" ", q).replace('"', " ").strip()
    return phrases, rest


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


def encode_cursor(sort_values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise Unprocessable("the cursor is not valid") from exc
    if not isinstance(values, list) or len(values) != 3:
        raise Unprocessable("the cursor is not valid")
    return values


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
        if after:
            bounds["gt"] = after.isoformat()
        if before:
            bounds["lt"] = before.isoformat()
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
        body["search_after"] = decode_cursor(cursor)
    return body
