"""`/v1/conversations` routes of API.md. Thin: parse, call the service, answer."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from parley_contracts.resources import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Conversation,
    ConversationCreate,
    ConversationUpdate,
    MembersAdd,
    Page,
    ReadMarker,
    ReadUpdate,
)
from parley_kit.identity import CurrentClaims
from parley_messaging.dependencies import ConversationServiceDep

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Conversation,
    responses={200: {"model": Conversation, "description": "the existing direct conversation"}},
)
async def create_conversation(
    body: ConversationCreate, claims: CurrentClaims, service: ConversationServiceDep
) -> JSONResponse:
    conversation, created = await service.create(claims, body)
    return JSONResponse(
        conversation.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@router.get("")
async def list_conversations(
    claims: CurrentClaims,
    service: ConversationServiceDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> Page[Conversation]:
    return await service.list_for(claims, cursor, limit)


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: str, claims: CurrentClaims, service: ConversationServiceDep
) -> Conversation:
    return await service.get(claims, conversation_id)


@router.patch("/{conversation_id}")
async def rename_conversation(
    conversation_id: str,
    body: ConversationUpdate,
    claims: CurrentClaims,
    service: ConversationServiceDep,
) -> Conversation:
    return await service.rename(claims, conversation_id, body.title)


@router.post("/{conversation_id}/members")
async def add_members(
    conversation_id: str, body: MembersAdd, claims: CurrentClaims, service: ConversationServiceDep
) -> Conversation:
    return await service.add_members(claims, conversation_id, body.user_ids)


@router.delete("/{conversation_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    conversation_id: str, user_id: str, claims: CurrentClaims, service: ConversationServiceDep
) -> Response:
    await service.remove_member(claims, conversation_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{conversation_id}/read")
async def mark_read(
    conversation_id: str, body: ReadUpdate, claims: CurrentClaims, service: ConversationServiceDep
) -> ReadMarker:
    return await service.mark_read(claims, conversation_id, body.seq)
