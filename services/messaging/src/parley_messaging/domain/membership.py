"""Who is in a conversation, answered from the Redis projection (loaded from the store when
missing).

Every route of a conversation goes through `require_member`: a conversation of another tenant,
one that does not exist and one the caller is not in all answer the same 404.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley_contracts.resources import ConversationKind, MemberRole, NotificationLevel
from parley_kit.problems import NotFound, ServiceUnavailable
from parley_messaging.models import ConversationRecord, MemberRecord
from parley_messaging.projection import ConversationKeys, ConversationProjection, UserKeys
from parley_messaging.repository import ConversationRepository, MemberRepository, object_id

NOT_FOUND = "no such conversation"
LOAD_ATTEMPTS = 3


@dataclass(frozen=True)
class Membership:
    tenant_id: str
    conversation_id: str
    user_id: str
    kind: ConversationKind
    role: MemberRole
    keys: ConversationKeys

    @property
    def is_admin(self) -> bool:
        return self.role is MemberRole.ADMIN


def conversation_fields(record: ConversationRecord) -> dict[str, Any]:
    """What the projection keeps of a conversation (besides its members)."""
    return {
        "id": str(record.id),
        "tenant_id": record.tenant_id,
        "kind": record.kind.value,
        "title": record.title,
        "created_by": record.created_by,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def member_fields(member: MemberRecord) -> dict[str, Any]:
    return {
        "role": member.role.value,
        "joined_at": member.joined_at.isoformat(),
        "notification_level": member.notification_level.value,
    }


def member_record(tenant_id: str, conversation_id: str, user_id: str, raw: dict[str, Any]) -> Any:
    return MemberRecord(
        id=f"{conversation_id}:{user_id}",
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        user_id=user_id,
        role=MemberRole(raw["role"]),
        joined_at=datetime.fromisoformat(raw["joined_at"]),
        notification_level=NotificationLevel(raw.get("notification_level", "all")),
    )


class MembershipCheck:
    def __init__(self, projection: ConversationProjection) -> None:
        self._projection = projection

    def keys(self, tenant_id: str, conversation_id: str) -> ConversationKeys:
        return self._projection.keys(tenant_id, conversation_id)

    async def require_member(
        self, tenant_id: str, conversation_id: str, user_id: str
    ) -> Membership:
        if object_id(conversation_id) is None:
            raise NotFound(NOT_FOUND)
        keys = self._projection.keys(tenant_id, conversation_id)
        view = await self._projection.member_of(keys, user_id)
        if view is None:
            await self.load(tenant_id, conversation_id)
            view = await self._projection.member_of(keys, user_id)
        if view is None or view.member is None:
            raise NotFound(NOT_FOUND)
        return Membership(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            user_id=user_id,
            kind=ConversationKind(view.conversation["kind"]),
            role=MemberRole(view.member["role"]),
            keys=keys,
        )

    async def members(
        self, tenant_id: str, conversation_id: str
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(conversation fields, members by user id) of a conversation known to exist."""
        keys = self._projection.keys(tenant_id, conversation_id)
        for _ in range(LOAD_ATTEMPTS):
            found = await self._projection.members(keys)
            if found is not None:
                return found
            await self.load(tenant_id, conversation_id)
        raise ServiceUnavailable("the conversation is changing too fast to load; retry")

    async def load(self, tenant_id: str, conversation_id: str) -> None:
        """Load a conversation's members from the store (after Redis lost them)."""
        keys = self._projection.keys(tenant_id, conversation_id)
        generation = await self._projection.generation(keys, "members")
        record = await ConversationRepository(tenant_id).get(conversation_id)
        if record is None:
            raise NotFound(NOT_FOUND)
        members = await MemberRepository(tenant_id).of_conversation(conversation_id)
        await self._projection.load_members(
            keys,
            generation,
            conversation_fields(record),
            {m.user_id: member_fields(m) for m in members},
        )

    async def start(self, record: ConversationRecord, members: list[MemberRecord]) -> None:
        """The members of a conversation just created, known without reading the store."""
        keys = self._projection.keys(record.tenant_id, str(record.id))
        generation = await self._projection.generation(keys, "members")
        await self._projection.load_members(
            keys,
            generation,
            conversation_fields(record),
            {m.user_id: member_fields(m) for m in members},
        )

    async def conversation_ids(self, tenant_id: str, user_id: str) -> list[str]:
        keys: UserKeys = self._projection.user_keys(tenant_id, user_id)
        for _ in range(LOAD_ATTEMPTS):
            found = await self._projection.conversations_of(keys)
            if found is not None:
                return found
            generation = await self._projection.generation(keys, "conversations")
            ids = await MemberRepository(tenant_id).conversations_of(user_id)
            await self._projection.load_conversations_of(keys, generation, sorted(set(ids)))
        raise ServiceUnavailable("the conversation list is changing too fast to load; retry")

    async def joined(self, tenant_id: str, conversation_id: str, member: MemberRecord) -> None:
        """After a member document was inserted or rewritten: mirror it."""
        keys = self._projection.keys(tenant_id, conversation_id)
        await self._projection.member_changed(keys, member.user_id, member_fields(member))
        user = self._projection.user_keys(tenant_id, member.user_id)
        await self._projection.user_joined(user, conversation_id, True)

    async def left(self, tenant_id: str, conversation_id: str, user_id: str) -> None:
        keys = self._projection.keys(tenant_id, conversation_id)
        await self._projection.member_changed(keys, user_id, None)
        user = self._projection.user_keys(tenant_id, user_id)
        await self._projection.user_joined(user, conversation_id, False)

    async def conversation_changed(self, record: ConversationRecord) -> None:
        keys = self._projection.keys(record.tenant_id, str(record.id))
        await self._projection.conversation_changed(keys, conversation_fields(record))
