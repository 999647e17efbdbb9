"""`/v1/conversations/{id}/messages` routes of API.md. Thin: parse, call the service, answer."""

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import JSONResponse

from parley_contracts.resources import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Message,
    MessageCreate,
    MessageEdit,
    Page,
)
from parley_contracts.validation import MAX_SEQ
from parley_kit.identity import CurrentClaims
from parley_messaging.dependencies import MessageServiceDep

router = APIRouter(prefix="/v1/conversations/{conversation_id}/messages", tags=["messages"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
Seq = Annotated[int | None, Query(ge=0, le=MAX_SEQ)]
Cursor = Annotated[str | None, Query(max_length=512)]
Emoji = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\s$.]+$")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Message,
    responses={200: {"model": Message, "description": "an idempotent repeat: the same message"}},
)
async def send_message(
    conversation_id: str,
    body: MessageCreate,
    claims: CurrentClaims,
    service: MessageServiceDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    message, created = await service.send(claims, conversation_id, body, idempotency_key)
    return JSONResponse(
        message.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@router.get("", response_model=Page[Message])
async def list_messages(
    conversation_id: str,
    claims: CurrentClaims,
    service: MessageServiceDep,
    before_seq: Seq = None,
    after_seq: Seq = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> Response:
    """Without `after_seq`: newest first. With `after_seq`: oldest first (gap-fill)."""
    page = await service.history(
        claims,
        conversation_id,
        before_seq=before_seq,
        after_seq=after_seq,
        cursor=cursor,
        limit=limit,
    )
    return Response(orjson.dumps(page), media_type="application/json")


@router.get("/{message_id}")
async def get_message(
    conversation_id: str, message_id: str, claims: CurrentClaims, service: MessageServiceDep
) -> Message:
    return await service.get(claims, conversation_id, message_id)


@router.get("/{message_id}/replies")
async def list_replies(
    conversation_id: str,
    message_id: str,
    claims: CurrentClaims,
    service: MessageServiceDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> Page[Message]:
    return await service.replies(claims, conversation_id, message_id, cursor, limit)


@router.patch("/{message_id}")
async def edit_message(
    conversation_id: str,
    message_id: str,
    body: MessageEdit,
    claims: CurrentClaims,
    service: MessageServiceDep,
) -> Message:
    return await service.edit(claims, conversation_id, message_id, body.content)


@router.delete("/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message(
    conversation_id: str, message_id: str, claims: CurrentClaims, service: MessageServiceDep
) -> Response:
    await service.delete(claims, conversation_id, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{message_id}/reactions/{emoji}")
async def add_reaction(
    conversation_id: str,
    message_id: str,
    emoji: Emoji,
    claims: CurrentClaims,
    service: MessageServiceDep,
) -> Message:
    return await service.react(claims, conversation_id, message_id, emoji, present=True)


@router.delete("/{message_id}/reactions/{emoji}")
async def remove_reaction(
    conversation_id: str,
    message_id: str,
    emoji: Emoji,
    claims: CurrentClaims,
    service: MessageServiceDep,
) -> Message:
    return await service.react(claims, conversation_id, message_id, emoji, present=False)
