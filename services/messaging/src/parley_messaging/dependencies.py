"""FastAPI dependencies of messaging, built from what the lifespan put on `app.state`."""

from typing import Annotated

from fastapi import Depends, Request

from parley_messaging.domain.conversations import ConversationService
from parley_messaging.domain.history import EditHistory
from parley_messaging.domain.membership import MembershipCheck
from parley_messaging.domain.messages import MessageService
from parley_messaging.domain.notifications import NotificationService
from parley_messaging.domain.pins import PinService


async def conversation_service(request: Request) -> ConversationService:
    service: ConversationService = request.app.state.conversations
    return service


async def message_service(request: Request) -> MessageService:
    service: MessageService = request.app.state.messages
    return service


async def edit_history(request: Request) -> EditHistory:
    history: EditHistory = request.app.state.edit_history
    return history


async def pin_service(request: Request) -> PinService:
    service: PinService = request.app.state.pins
    return service


async def notification_service(request: Request) -> NotificationService:
    service: NotificationService = request.app.state.notifications
    return service


async def membership_check(request: Request) -> MembershipCheck:
    check: MembershipCheck = request.app.state.membership
    return check


ConversationServiceDep = Annotated[ConversationService, Depends(conversation_service)]
MessageServiceDep = Annotated[MessageService, Depends(message_service)]
EditHistoryDep = Annotated[EditHistory, Depends(edit_history)]
PinServiceDep = Annotated[PinService, Depends(pin_service)]
MembershipDep = Annotated[MembershipCheck, Depends(membership_check)]
NotificationServiceDep = Annotated[NotificationService, Depends(notification_service)]
