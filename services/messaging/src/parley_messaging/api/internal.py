"""Routes for other Parley services only (internal secret required; never via the gateway)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parley_contracts.resources import Message
from parley_kit.identity import InternalCaller
from parley_messaging.dependencies import MembershipDep
from parley_messaging.domain.cursors import ExportPosition, decode_cursor, encode_cursor
from parley_messaging.render import base_message, decorate
from parley_messaging.repository import export_messages

router = APIRouter(prefix="/internal/v1", dependencies=[InternalCaller], include_in_schema=False)


class ConversationIds(BaseModel):
    conversation_ids: list[str]


class MessageExport(BaseModel):
    items: list[Message]
    next_cursor: str | None


@router.get("/tenants/{tenant_id}/users/{user_id}/conversations")
async def conversations_of_user(
    tenant_id: str, user_id: str, membership: MembershipDep
) -> ConversationIds:
    """Which conversations user U of tenant T is a member of now (search, gateway rooms)."""
    return ConversationIds(conversation_ids=await membership.conversation_ids(tenant_id, user_id))


@router.get("/messages:export")
async def export(
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> MessageExport:
    """Every tenant's messages in storage order, for rebuilding the search index."""
    after = decode_cursor(cursor, ExportPosition).after if cursor else None
    records = await export_messages(after, limit)
    last = str(records[-1].id) if records else ""
    next_cursor = encode_cursor(ExportPosition(after=last)) if len(records) == limit else None
    return MessageExport(
        items=[decorate(base_message(r)) for r in records], next_cursor=next_cursor
    )
