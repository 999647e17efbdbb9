"""Every query auth makes. Tenant data goes through `TenantScope`; the tenants table itself
and refresh-token lookups by secret hash are global by design (marked `unscoped`)."""

import re
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId

from parley_auth.models import RefreshTokenRecord, TenantRecord, UserRecord
from parley_contracts.claims import Role
from parley_kit.mongo import TenantScope


def object_id(value: str) -> PydanticObjectId | None:
    try:
        return PydanticObjectId(value)
    except (InvalidId, TypeError, ValueError):
        return None


class TenantRepository:
    async def by_slug(self, slug: str) -> TenantRecord | None:
        return await TenantRecord.find_one({"slug": slug})  # unscoped: tenants are global

    async def by_id(self, tenant_id: str) -> TenantRecord | None:
        oid = object_id(tenant_id)
        if oid is None:
            return None
        return await TenantRecord.find_one({"_id": oid})  # unscoped: tenants are global

    async def insert(self, tenant: TenantRecord) -> TenantRecord:
        return await tenant.insert()


class UserRepository:
    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def by_id(self, user_id: str) -> UserRecord | None:
        oid = object_id(user_id)
        return await self.scope.get(UserRecord, oid) if oid is not None else None

    async def by_login(self, login: str) -> UserRecord | None:
        key = login.strip().lower()
        field = "email" if "@" in key else "username_key"
        return await self.scope.find_one(UserRecord, {field: key})

    async def by_ids(self, user_ids: list[str]) -> list[UserRecord]:
        oids = [oid for oid in (object_id(u) for u in user_ids) if oid is not None]
        if not oids:
            return []
        return await self.scope.find(UserRecord, {"_id": {"$in": oids}}).to_list()

    async def by_usernames(self, usernames: list[str]) -> list[UserRecord]:
        keys = sorted({name.strip().lower() for name in usernames})
        return await self.scope.find(UserRecord, {"username_key": {"$in": keys}}).to_list()

    async def page(self, query: str | None, after_id: str | None, limit: int) -> list[UserRecord]:
        conditions: dict[str, Any] = {}
        if query:
            prefix = "^" + re.escape(query.strip().lower())
            conditions["$or"] = [
                {"username_key": {"$regex": prefix}},
                {"email": {"$regex": prefix}},
            ]
        after = object_id(after_id) if after_id else None
        if after is not None:
            conditions["_id"] = {"$gt": after}
        return await self.scope.find(UserRecord, conditions).sort("_id").limit(limit).to_list()

    async def count_owners(self) -> int:
        return await self.scope.find(UserRecord, {"roles": Role.OWNER.value}).count()

    async def set_roles(self, user: UserRecord, roles: list[Role]) -> UserRecord:
        await self.scope.collection(UserRecord).update_one(
            {"_id": user.id}, {"$set": {"roles": [role.value for role in roles]}}
        )
        user.roles = roles
        return user

    async def insert(self, user: UserRecord) -> UserRecord:
        if user.tenant_id != self.scope.tenant_id:
            raise ValueError("a user belongs to the tenant of its repository")
        return await user.insert()


class RefreshTokenRepository:
    async def by_hash(self, token_hash: str) -> RefreshTokenRecord | None:
        # unscoped: the token's secret hash identifies it before its tenant is known
        return await RefreshTokenRecord.find_one({"token_hash": token_hash})

    async def insert(self, token: RefreshTokenRecord) -> None:
        await token.insert()

    async def spend(self, token: RefreshTokenRecord, at: datetime) -> bool:
        """Mark spent; False if someone spent it first (a concurrent reuse)."""
        updated = (
            await TenantScope(token.tenant_id)
            .collection(RefreshTokenRecord)
            .update_one(
                {"_id": token.id, "spent_at": None, "revoked": False}, {"$set": {"spent_at": at}}
            )
        )
        return updated == 1

    async def revoke_family(self, tenant_id: str, family_id: str) -> None:
        await (
            TenantScope(tenant_id)
            .collection(RefreshTokenRecord)
            .update_many({"family_id": family_id}, {"$set": {"revoked": True}})
        )
