"""`GET /v1/search/messages` of API.md. Thin: parse, call the service, answer."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from parley_contracts.cursors import MAX_CURSOR_CHARS
from parley_contracts.resources import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, SearchPage
from parley_contracts.validation import MAX_SEARCH_QUERY_CHARS, Instant
from parley_kit.identity import CurrentClaims
from parley_search.operators import parse_query, plain_query
from parley_search.query import SearchText
from parley_search.service import SearchRequest, SearchService

router = APIRouter(tags=["search"])


async def search_service(request: Request) -> SearchService:
    service: SearchService = request.app.state.search_service
    return service


SearchServiceDep = Annotated[SearchService, Depends(search_service)]


Q_DESCRIPTION = """Words to find, with optional operators (they only narrow the search):
`from:<username>`, `in:<conversation id or title>` (quote a title with spaces:
`in:"launch plans"`), `mentions:<username>|me`, `before:<YYYY-MM-DD>`, `after:<YYYY-MM-DD>`,
`during:<YYYY-MM-DD>` (UTC days; `before:`/`after:` exclude the day named), `has:link`,
`has:reaction`, `is:thread` (a reply, or a message with replies), `"exact phrase"`, `-word`,
`-"phrase"`. An unknown operator or a bad date is a 422 naming it; quote text that contains a
colon to search it as text. Operators without words: a filter-only search, newest first.
A misspelled word of 4+ letters still matches (`corrected: true`); exact and prefix matches
rank first."""


@router.get("/v1/search/messages")
async def search_messages(
    claims: CurrentClaims,
    service: SearchServiceDep,
    q: Annotated[
        SearchText,
        Query(min_length=1, max_length=MAX_SEARCH_QUERY_CHARS, description=Q_DESCRIPTION),
    ],
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    sender_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[Instant | None, Query()] = None,
    before: Annotated[Instant | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    syntax: Annotated[
        Literal["operators", "plain"],
        Query(description="`plain`: every token of `q` is text to find, no operators or quotes"),
    ] = "operators",
) -> SearchPage:
    """Full-text search over the caller's conversations: relevance blended with recency,
    ties newest first; exact and prefix matches before typo-tolerant ones."""
    text = q.strip() or q
    request = SearchRequest(
        q=text,
        parsed=plain_query(text) if syntax == "plain" else parse_query(text),
        conversation_id=conversation_id,
        sender_id=sender_id,
        after=after,
        before=before,
        cursor=cursor,
        limit=limit,
    )
    return await service.search(claims, request)
