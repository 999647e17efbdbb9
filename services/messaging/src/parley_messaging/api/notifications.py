"""`/v1/me/notifications` and `/v1/conversations/{id}/notifications` routes of API.md. Thin:
parse, call the service, answer."""

from typing import Annotated

from fastapi import APIRouter, Query

from parley_contracts.resources import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Conversation,
    Notification,
    NotificationLevelUpdate,
    NotificationsRead,
    Page,
    UnreadNotifications,
)
from parley_kit.identity import CurrentClaims
from parley_messaging.dependencies import ConversationServiceDep, NotificationServiceDep

router = APIRouter(tags=["notifications"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.get("/v1/me/notifications")
async def list_notifications(
    claims: CurrentClaims,
    service: NotificationServiceDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    unread: Annotated[bool, Query(description="only unread notifications")] = False,
) -> Page[Notification]:
    """The caller's mentions and replies to their messages, newest first."""
    return await service.feed(claims, cursor, limit, unread)


@router.post("/v1/me/notifications/read")
async def mark_notifications_read(
    body: NotificationsRead, claims: CurrentClaims, service: NotificationServiceDep
) -> UnreadNotifications:
    """Mark `ids` (or `all`) read; answers how many stay unread. Unknown ids are ignored."""
    return await service.mark_read(claims, body)


@router.put("/v1/conversations/{conversation_id}/notifications")
async def set_notification_level(
    conversation_id: str,
    body: NotificationLevelUpdate,
    claims: CurrentClaims,
    service: NotificationServiceDep,
    conversations: ConversationServiceDep,
) -> Conversation:
    """The caller's level for the conversation: `all`, `mentions` or `none`."""
    await service.set_level(claims, conversation_id, body.level)
    return await conversations.get(claims, conversation_id)
