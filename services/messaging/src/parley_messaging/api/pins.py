"""Edit history and pins routes of API.md ("Edit history and pins"). Thin: parse, call the
service, answer."""

from fastapi import APIRouter

from parley_contracts.resources import Message, MessageVersion, Resource
from parley_kit.identity import CurrentClaims
from parley_messaging.dependencies import EditHistoryDep, PinServiceDep

router = APIRouter(prefix="/v1/conversations/{conversation_id}", tags=["messages"])


class MessageVersions(Resource):
    """Previous versions of a message, oldest first (none for a deleted message)."""

    items: list[MessageVersion]


class PinnedMessages(Resource):
    """Pinned messages, most recently pinned first."""

    items: list[Message]


@router.get("/messages/{message_id}/edits")
async def list_edits(
    conversation_id: str, message_id: str, claims: CurrentClaims, history: EditHistoryDep
) -> MessageVersions:
    return MessageVersions(items=await history.versions(claims, conversation_id, message_id))


@router.put("/messages/{message_id}/pin")
async def pin_message(
    conversation_id: str, message_id: str, claims: CurrentClaims, service: PinServiceDep
) -> Message:
    """Conversation admins only; pinning a pinned message answers it unchanged."""
    return await service.pin(claims, conversation_id, message_id, pinned=True)


@router.delete("/messages/{message_id}/pin")
async def unpin_message(
    conversation_id: str, message_id: str, claims: CurrentClaims, service: PinServiceDep
) -> Message:
    """Conversation admins only; unpinning a message that is not pinned answers it unchanged."""
    return await service.pin(claims, conversation_id, message_id, pinned=False)


@router.get("/pins")
async def list_pins(
    conversation_id: str, claims: CurrentClaims, service: PinServiceDep
) -> PinnedMessages:
    return PinnedMessages(items=await service.pins(claims, conversation_id))
