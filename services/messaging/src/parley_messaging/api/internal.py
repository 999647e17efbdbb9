"""Routes for other Parley services only (internal secret required; never via the gateway)."""

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parley_contracts.resources import Message
from parley_kit.identity import InternalCaller
from parley_kit.problems import NotFound
from parley_messaging.dependencies import MembershipDep
from parley_messaging.domain.cursors import ExportPosition, decode_cursor, encode_cursor
from parley_messaging.render import base_message, decorate
from parley_messaging.repository import export_messages

router = APIRouter(prefix="/internal/v1", dependencies=[InternalCaller], include_in_schema=False)


class ConversationIds(BaseModel):
    conversation_ids: list[str]
    titles: dict[str, str | None] | None = None


class MessageExport(BaseModel):
    items: list[Message]
    next_cursor: str | None


@router.get("/tenants/{tenant_id}/users/{user_id}/conversations", response_model_exclude_none=True)
async def conversations_of_user(
    tenant_id: str,
    user_id: str,
    membership: MembershipDep,
    titles: Annotated[bool, Query()] = False,
) -> ConversationIds:
    """Which conversations user U of tenant T is a member of now (search, gateway rooms);
    `titles=true` adds each one's title (search's `in:<title>` operator)."""
    ids = await membership.conversation_ids(tenant_id, user_id)
    if not titles:
        return ConversationIds(conversation_ids=ids)
    gate = asyncio.Semaphore(16)

    async def title_of(conversation_id: str) -> str | None:
        async with gate:
            with contextlib.suppress(NotFound):  # deleted meanwhile: no title to match
                fields, _ = await membership.members(tenant_id, conversation_id)
                title = fields.get("title")
                return str(title) if title else None
            return None

    found = await asyncio.gather(*(title_of(i) for i in ids))
    return ConversationIds(conversation_ids=ids, titles=dict(zip(ids, found, strict=True)))


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
