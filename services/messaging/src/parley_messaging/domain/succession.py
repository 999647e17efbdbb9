"""A deactivated user leaves no group without an admin.

On `user.deactivated` (the users topic, consumed in a group of messaging's own), every group
conversation where that user was an admin and no other active admin remains gets one: the
earliest-joined active member is promoted, the way a leaving last admin hands a conversation
on (`ConversationService.remove_member`), under the same per-conversation member lock. The
user stays a member, so their messages stay where they are.

Handling an event twice changes nothing the second time (the conversation has an active admin
by then), so the consumer may redeliver. A user reactivated before the event is handled is
left alone: auth is asked whether the user is still inactive.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import ValidationError

from parley_contracts.events import EventEnvelope
from parley_contracts.resources import ConversationKind, MemberRole
from parley_contracts.topics import EventType
from parley_kit.internal import AuthUsers, InternalApi
from parley_kit.locks import RedisLock
from parley_kit.logs import get_logger
from parley_kit.problems import NotFound, ProblemError
from parley_messaging.domain.membership import MembershipCheck, member_record
from parley_messaging.repository import MemberRepository

log = get_logger(__name__)

ATTEMPTS = 8  # a handling that keeps failing (auth or a store down) is retried, then logged

Announce = Callable[[str, str], Awaitable[None]]


class ActiveUsers:
    """Which users of a tenant are active, asked of auth."""

    def __init__(self, http: httpx.AsyncClient, auth_url: str, secret: str) -> None:
        self._users = AuthUsers(InternalApi(http, auth_url, secret))

    async def of(self, tenant_id: str, user_ids: list[str]) -> set[str]:
        users = await self._users.by_ids(
            tenant_id, user_ids, unavailable="cannot ask auth which members are active"
        )
        return {user.id for user in users if user.active}


def heir(members: dict[str, dict[str, Any]], leaving: str, active: set[str]) -> str | None:
    """The member to promote when `leaving` stops counting as an admin: None while another
    active admin remains (or nobody active is left), else the earliest-joined active member."""
    others = {uid: m for uid, m in members.items() if uid != leaving and uid in active}
    if any(m["role"] == MemberRole.ADMIN.value for m in others.values()):
        return None
    if not others:
        return None
    return min(others.items(), key=lambda item: (item[1]["joined_at"], item[0]))[0]


class AdminSuccession:
    def __init__(
        self,
        membership: MembershipCheck,
        locks: RedisLock,
        users: ActiveUsers,
        announce: Announce,
        *,
        retry_seconds: float = 0.5,
    ) -> None:
        self._membership = membership
        self._locks = locks
        self._users = users
        self._announce = announce  # publishes conversation.updated after a promotion
        self._retry = retry_seconds

    async def on_user_event(self, body: bytes) -> None:
        """The users-topic subscriber: a deactivation is handled, everything else skipped."""
        try:
            envelope = EventEnvelope.model_validate_json(body)
        except (ValidationError, ValueError) as exc:
            log.warning("unreadable users event skipped", error=str(exc)[:300])
            return
        user_id = envelope.data.get("id")
        if envelope.type is not EventType.USER_DEACTIVATED or not isinstance(user_id, str):
            return
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self.user_deactivated(envelope.tenant_id, user_id)
                return
            except (ProblemError, httpx.HTTPError, OSError) as exc:
                if attempt == ATTEMPTS:
                    log.error("admins not handed over", user_id=user_id, error=str(exc)[:300])
                    return
                await asyncio.sleep(min(self._retry * 2 ** (attempt - 1), 10.0))

    async def user_deactivated(self, tenant_id: str, user_id: str) -> list[str]:
        """Hand over every group the user was the last active admin of; the conversations
        that got a new admin."""
        if user_id in await self._users.of(tenant_id, [user_id]):
            return []  # reactivated meanwhile
        handed: list[str] = []
        for conversation_id in await self._membership.conversation_ids(tenant_id, user_id):
            try:
                if await self._hand_over(tenant_id, conversation_id, user_id):
                    handed.append(conversation_id)
            except NotFound:
                continue  # gone meanwhile
        return handed

    async def _hand_over(self, tenant_id: str, conversation_id: str, user_id: str) -> bool:
        async with self._locks.held(f"{tenant_id}:{conversation_id}:members"):
            fields, members = await self._membership.members(tenant_id, conversation_id)
            leaving = members.get(user_id)
            if fields.get("kind") == ConversationKind.DIRECT.value or leaving is None:
                return False
            if leaving["role"] != MemberRole.ADMIN.value:
                return False
            active = await self._users.of(tenant_id, list(members))
            chosen = heir(members, user_id, active)
            if chosen is None:
                return False
            promoted = member_record(tenant_id, conversation_id, chosen, members[chosen])
            promoted.role = MemberRole.ADMIN
            await MemberRepository(tenant_id).write(promoted)
            await self._membership.joined(tenant_id, conversation_id, promoted)
        log.info("admin handed over", conversation_id=conversation_id, user_id=chosen)
        await self._announce(tenant_id, conversation_id)
        return True
