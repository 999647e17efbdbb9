"""`GET /v1/search/messages` of API.md. Thin: parse, call the service, answer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from parley_contracts.cursors import MAX_CURSOR_CHARS
from parley_contracts.resources import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, SearchPage
from parley_contracts.validation import MAX_SEARCH_QUERY_CHARS, Instant
from parley_kit.identity import CurrentClaims
from parley_search.query import SearchText
from parley_search.service import SearchService

router = APIRouter(tags=["search"])


async def search_service(request: Request) -> SearchService:
    service: SearchService = request.app.state.search_service
    return service


SearchServiceDep = Annotated[SearchService, Depends(search_service)]


@router.get("/v1/search/messages")
async def search_messages(
    claims: CurrentClaims,
    service: SearchServiceDep,
    q: Annotated[SearchText, Query(min_length=1, max_length=MAX_SEARCH_QUERY_CHARS)],
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    sender_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[Instant | None, Query()] = None,
    before: Annotated[Instant | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> SearchPage:
    """Full-text search over the caller's conversations: relevance, then recency."""
    return await service.search(
        claims,
        q=q.strip() or q,
        conversation_id=conversation_id,
        sender_id=sender_id,
        after=after,
        before=before,
        cursor=cursor,
        limit=limit,
    )
