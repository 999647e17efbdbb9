"""Who is in a conversation, answered from the Redis cache when it can be.

Every route of a conversation goes through `require_member`: a conversation of another tenant,
one that does not exist and one the caller is not in all answer the same 404.
"""

from dataclasses import dataclass

from beanie import PydanticObjectId

from parley_contracts.resources import ConversationKind, MemberRole
from parley_kit.problems import NotFound
from parley_messaging.cache import GenerationalCache, conversation_owner, user_owner
from parley_messaging.models import ConversationRecord
from parley_messaging.repository import ConversationRepository, object_id

NOT_FOUND = "no such conversation"


@dataclass(frozen=True)
class Membership:
    tenant_id: str
    conversation_id: str
    oid: PydanticObjectId
    kind: ConversationKind
    roles: dict[str, MemberRole]

    def is_admin(self, user_id: str) -> bool:
        return self.roles.get(user_id) is MemberRole.ADMIN


class MembershipCheck:
    def __init__(self, cache: GenerationalCache) -> None:
        self._cache = cache

    async def require_member(
        self, tenant_id: str, conversation_id: str, user_id: str
    ) -> Membership:
        oid = object_id(conversation_id)
        if oid is None:
            raise NotFound(NOT_FOUND)
        owner = conversation_owner(tenant_id, conversation_id)
        generation, cached = await self._cache.read(owner, "members")
        if cached is None:
            record = await ConversationRepository(tenant_id).get(conversation_id)
            if record is None:
                raise NotFound(NOT_FOUND)
            cached = {
                "kind": record.kind.value,
                "roles": {m.user_id: m.role.value for m in record.members},
            }
            await self._cache.store(owner, "members", generation, cached)
        if user_id not in cached["roles"]:
            raise NotFound(NOT_FOUND)
        return Membership(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            oid=oid,
            kind=ConversationKind(cached["kind"]),
            roles={uid: MemberRole(role) for uid, role in cached["roles"].items()},
        )

    async def conversation_ids(self, tenant_id: str, user_id: str) -> list[str]:
        owner = user_owner(tenant_id, user_id)
        generation, cached = await self._cache.read(owner, "conversations")
        if cached is not None:
            return list(cached)
        ids = await ConversationRepository(tenant_id).ids_of_member(user_id)
        await self._cache.store(owner, "conversations", generation, ids)
        return ids

    async def changed(self, record: ConversationRecord, *user_ids: str) -> None:
        """After a membership change reached MongoDB: forget what the cache knew."""
        await self._cache.invalidate(
            conversation_owner(record.tenant_id, str(record.id)),
            *(user_owner(record.tenant_id, uid) for uid in user_ids),
        )
