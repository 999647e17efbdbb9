"""The search request: what people type, turned into engine queries that find it.

User text is never passed to a query-string parser (no syntax injection): `parse_query`
splits `q` into words, phrases, exclusions and operators, and each becomes a clause here.

Two tiers, so exact and prefix matches always rank above typo-tolerant ones:
- the *strict* tier: every word matches in one of the analyses of `content` (stems, accents
  folded, prefixes, word parts), quoted phrases match as phrases;
- the *fuzzy* tier: every word matches strictly *or*, for plain words of 4+ letters, within
  the engine's `AUTO` edit distance (1 edit for 4-5 letters, 2 beyond; a swap counts as one),
  and the strict tier's text clause must not match (so no message is in both tiers).
A page lists the strict tier first, then the fuzzy one; the cursor says which tier it is in.

Ranking in a tier: `score = text_score * (0.5 + 0.5 * decay)`, with
`decay = 0.5 ^ (max(0, age - 1 day) / 30 days)` (an exponential decay on `created_at`): a
message's recency can at most halve its text score, so a much better match still wins. Ties
break newest first. The decay's origin ("now") is fixed by the first page and carried in the
cursor, so scores, and thus pages, stay stable while paging.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, StringConstraints

from parley_contracts.cursors import Position, decode_cursor, encode_cursor
from parley_contracts.validation import format_timestamp
from parley_search.operators import NOTHING_TO_SEARCH, ParsedQuery, fuzzy_eligible, has_text

TOTAL_HITS_EXACT_UP_TO: Final = 10_000
MAX_FUZZY_WORDS: Final = 8
MAX_EPOCH_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
DECAY_SCALE: Final = "30d"
DECAY_OFFSET: Final = "1d"
HIGHLIGHT_FIELDS: Final = ("content", "content.parts", "content.prefix")
# The fuzzy tier highlights the unstemmed analysis first: that is where the fuzzy clauses
# match, and its highlighted words are what `did_you_mean` is built from.
FUZZY_HIGHLIGHT_FIELDS: Final = ("content.exact", *HIGHLIGHT_FIELDS)
Tier = Literal[0, 1]
STRICT: Final[Tier] = 0
FUZZY: Final[Tier] = 1


def _searchable(q: str) -> str:
    if not has_text(q):
        raise ValueError(NOTHING_TO_SEARCH)
    return q


SearchText = Annotated[str, AfterValidator(_searchable)]
"""`q` as the API takes it: something in it must be text (API.md: otherwise 422)."""


class SearchPosition(Position):
    """Where a page ended: the sort values of its last hit (score, `created_at` in epoch ms,
    id), the tier it is in, and the decay origin of the first page (epoch ms)."""

    score: Annotated[float, Field(allow_inf_nan=False)]
    at: Annotated[int, Field(ge=-(2**62), le=2**62)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    tier: Annotated[int, Field(ge=0, le=1)] = STRICT
    origin: Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)] | None = None


def cursor_after(sort_values: list[Any], *, tier: int = STRICT, origin: int | None = None) -> str:
    score, at, message_id = sort_values
    return encode_cursor(
        SearchPosition(score=float(score), at=int(at), id=str(message_id), tier=tier, origin=origin)
    )


def read_cursor(cursor: str) -> SearchPosition:
    """The position a cursor holds; anything but a search cursor is a 422 on `cursor`."""
    return decode_cursor(cursor, SearchPosition)


def search_after(position: SearchPosition) -> list[Any]:
    return [position.score, position.at, position.id]


@dataclass
class Narrowing:
    """Everything that restricts which messages may match. The tenant and the caller's
    conversations come first; the rest (query parameters and operators) only narrow further."""

    tenant_id: str
    conversation_ids: list[str]
    sender_id: str | None = None  # the `sender_id` parameter
    senders: list[str] | None = None  # `from:` resolved to user ids (any of them)
    mentions: list[str] | None = None  # `mentions:` resolved to user ids (any of them)
    after: datetime | None = None  # the parameters: exclusive bounds
    before: datetime | None = None
    since: datetime | None = None  # the date operators: inclusive start, exclusive end
    until: datetime | None = None
    has_link: bool = False
    has_reaction: bool = False
    thread_parents: list[str] | None = None  # `is:thread`: parents of visible replies


def visible_filters(tenant_id: str, conversation_ids: list[str]) -> list[dict[str, Any]]:
    """What the caller may see at all; first in every query."""
    return [
        {"term": {"tenant_id": tenant_id}},
        {"terms": {"conversation_id": conversation_ids}},
        {"term": {"deleted": False}},
    ]


def filters(narrowing: Narrowing) -> list[dict[str, Any]]:
    found = visible_filters(narrowing.tenant_id, narrowing.conversation_ids)
    if narrowing.sender_id:
        found.append({"term": {"sender_id": narrowing.sender_id}})
    if narrowing.senders is not None:
        found.append({"terms": {"sender_id": narrowing.senders}})
    if narrowing.mentions is not None:
        found.append({"terms": {"mentions": narrowing.mentions}})
    # RFC 3339 in UTC: the engine's date parser refuses offsets beyond ±18:00.
    for low, high, inclusive in (
        (narrowing.after, narrowing.before, False),
        (narrowing.since, narrowing.until, True),
    ):
        bounds: dict[str, str] = {}
        if low:
            bounds["gte" if inclusive else "gt"] = format_timestamp(low)
        if high:
            bounds["lt"] = format_timestamp(high)
        if bounds:
            found.append({"range": {"created_at": bounds}})
    if narrowing.has_link:
        found.append({"term": {"has_link": True}})
    if narrowing.has_reaction:
        found.append({"term": {"has_reaction": True}})
    if narrowing.thread_parents is not None:
        found.append(
            {
                "bool": {
                    "should": [
                        {"exists": {"field": "parent_id"}},
                        {"terms": {"id": narrowing.thread_parents}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return found


def exclusions(parsed: ParsedQuery) -> list[dict[str, Any]]:
    """`-word` drops messages with the word (or its stem); `-"phrase"` those with the phrase."""
    clauses: list[dict[str, Any]] = []
    for word in parsed.excluded_words:
        clauses.append({"match": {"content": {"query": word, "operator": "and"}}})
        clauses.append({"match": {"content.exact": {"query": word, "operator": "and"}}})
    for phrase in parsed.excluded_phrases:
        clauses.append({"match_phrase": {"content.exact": phrase}})
    return clauses


def phrase_clause(phrase: str) -> dict[str, Any]:
    # A quoted phrase must appear (in some analysis) and ranks far higher when exact.
    return {
        "bool": {
            "should": [
                {"match_phrase": {"content.exact": {"query": phrase, "boost": 10}}},
                {"match_phrase": {"content": {"query": phrase, "boost": 2}}},
                {"match": {"content.parts": {"query": phrase, "operator": "and"}}},
            ],
            "minimum_should_match": 1,
        }
    }


def words_clause(text: str) -> dict[str, Any]:
    """Every word of `text`, in one of the analyses (stems, exact, parts, prefixes)."""
    return {
        "bool": {
            "should": [
                {"match": {"content": {"query": text, "operator": "and", "boost": 2}}},
                {"match": {"content.exact": {"query": text, "operator": "and", "boost": 3}}},
                {"match": {"content.parts": {"query": text, "operator": "and", "boost": 1.5}}},
                {"match": {"content.prefix": {"query": text, "operator": "and"}}},
            ],
            "minimum_should_match": 1,
        }
    }


def fuzzy_word_clause(word: str) -> dict[str, Any]:
    return {
        "bool": {
            "should": [
                words_clause(word),
                {
                    "match": {
                        "content.exact": {
                            "query": word,
                            "fuzziness": "AUTO",
                            "prefix_length": 0,
                            "max_expansions": 50,
                            "fuzzy_transpositions": True,
                        }
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def fuzzy_words(parsed: ParsedQuery) -> set[str]:
    """The words that may match fuzzily: plain words of 4+ letters, the first
    `MAX_FUZZY_WORDS` of them (each fuzzy clause expands to up to 50 terms, and the engine
    refuses a query of more than 1,024 clauses)."""
    eligible = [word for word in parsed.words if fuzzy_eligible(word)]
    return set(eligible[:MAX_FUZZY_WORDS])


def has_fuzzy_tier(parsed: ParsedQuery) -> bool:
    return bool(fuzzy_words(parsed))


def ranked(query: dict[str, Any], origin: datetime) -> dict[str, Any]:
    """The text score blended with recency (the formula is in this module's docstring)."""
    return {
        "function_score": {
            "query": query,
            "functions": [
                {"weight": 0.5},
                {
                    "exp": {
                        "created_at": {
                            "origin": format_timestamp(origin),
                            "scale": DECAY_SCALE,
                            "offset": DECAY_OFFSET,
                            "decay": 0.5,
                        }
                    },
                    "weight": 0.5,
                },
            ],
            "score_mode": "sum",
            "boost_mode": "multiply",
        }
    }


def tier_query(
    parsed: ParsedQuery, narrowing: Narrowing, tier: Tier, origin: datetime
) -> dict[str, Any]:
    must = [phrase_clause(p) for p in parsed.phrases]
    must_not = exclusions(parsed)
    should: list[dict[str, Any]] = []
    if parsed.words:
        if tier == STRICT:
            must.append(words_clause(parsed.text))
            should.append({"match_phrase": {"content.exact": {"query": parsed.text, "boost": 4}}})
        else:
            fuzzy = fuzzy_words(parsed)
            must += [
                fuzzy_word_clause(word) if word in fuzzy else words_clause(word)
                for word in parsed.words
            ]
            must_not.append(words_clause(parsed.text))
    query: dict[str, Any] = {"bool": {"filter": filters(narrowing)}}
    if must_not:
        query["bool"]["must_not"] = must_not
    if not must:  # operators only: a filter-only search, newest first (every score is 0)
        return query
    query["bool"] |= {"must": must, "should": should}
    return ranked(query, origin)


def tier_body(
    parsed: ParsedQuery,
    narrowing: Narrowing,
    *,
    tier: Tier,
    origin: datetime,
    after: SearchPosition | None,
    size: int,
) -> dict[str, Any]:
    fields = FUZZY_HIGHLIGHT_FIELDS if tier == FUZZY else HIGHLIGHT_FIELDS
    body: dict[str, Any] = {
        "query": tier_query(parsed, narrowing, tier, origin),
        "sort": [{"_score": "desc"}, {"created_at": "desc"}, {"id": "asc"}],
        "size": size,
        "track_total_hits": TOTAL_HITS_EXACT_UP_TO,
        "_source": ["message"],
    }
    if size and parsed.has_search_text:
        body["highlight"] = {
            # The engine escapes the message text as HTML; only the tags it adds are markup.
            "encoder": "html",
            "pre_tags": ["<em>"],
            "post_tags": ["</em>"],
            "require_field_match": False,
            "fields": {f: {"number_of_fragments": 3, "fragment_size": 150} for f in fields},
        }
    if after is not None:
        body["search_after"] = search_after(after)
    return body


def thread_parents_body(tenant_id: str, conversation_ids: list[str]) -> dict[str, Any]:
    """The parents of the replies the caller can see (for `is:thread`)."""
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    *visible_filters(tenant_id, conversation_ids),
                    {"exists": {"field": "parent_id"}},
                ]
            }
        },
        "aggs": {"parents": {"terms": {"field": "parent_id", "size": TOTAL_HITS_EXACT_UP_TO}}},
    }


def messages_by_id_body(
    tenant_id: str, conversation_ids: list[str], message_ids: list[str]
) -> dict[str, Any]:
    """Messages by id, deleted ones included (their tombstones), within what the caller sees."""
    return {
        "size": len(message_ids),
        "query": {
            "bool": {
                "filter": [
                    {"term": {"tenant_id": tenant_id}},
                    {"terms": {"conversation_id": conversation_ids}},
                    {"terms": {"id": message_ids}},
                ]
            }
        },
        "_source": ["message"],
    }


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)
