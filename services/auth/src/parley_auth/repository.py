"""Every query auth makes. Tenant data goes through `TenantScope`; the tenants table itself is
global by design (marked `unscoped`)."""

import re
from typing import Any

from beanie import PydanticObjectId
from bson.errors import InvalidId

from parley_auth.models import (
    RefreshTokenRecord,
    SessionIndexRecord,
    SessionRecord,
    TenantRecord,
    UserRecord,
)
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
        """Active owners: a deactivated owner cannot keep the tenant."""
        return await self.scope.find(
            UserRecord, {"roles": Role.OWNER.value, "active": {"$ne": False}}
        ).count()

    async def set_fields(self, user: UserRecord, fields: dict[str, Any]) -> None:
        """`$set` fields of the user (by `_id`, the lookup FerretDB does not scan for); a
        taken email raises `DuplicateKeyError` from the unique (tenant, email) index."""
        await self.scope.collection(UserRecord).set_by_id(user.id, fields)
        for name, value in fields.items():
            setattr(user, name, value)

    async def set_roles(self, user: UserRecord, roles: list[Role], authz_version: int) -> None:
        """Callers hold the tenant's role-change lock: the write is computed from a read."""
        await self.scope.collection(UserRecord).update_one(
            {"_id": user.id},
            {"$set": {"roles": [role.value for role in roles], "authz_version": authz_version}},
        )
        user.roles, user.authz_version = roles, authz_version

    async def set_authz_version(self, user: UserRecord, authz_version: int) -> None:
        """Callers hold the tenant's role-change lock: the write is computed from a read."""
        await self.scope.collection(UserRecord).update_one(
            {"_id": user.id}, {"$set": {"authz_version": authz_version}}
        )
        user.authz_version = authz_version

    async def insert(self, user: UserRecord) -> UserRecord:
        if user.tenant_id != self.scope.tenant_id:
            raise ValueError("a user belongs to the tenant of its repository")
        return await user.insert()


class SessionRepository:
    """Sessions and their refresh tokens. Every call is by `_id` (the one lookup FerretDB does
    not scan for, and an atomic delete); the tenant comes from the refresh token and is checked
    on each document."""

    def __init__(self, tenant_id: str) -> None:
        self.scope = TenantScope(tenant_id)

    async def session(self, session_id: str) -> SessionRecord | None:
        return await self.scope.get(SessionRecord, session_id)

    async def token(self, token_id: str) -> RefreshTokenRecord | None:
        return await self.scope.get(RefreshTokenRecord, token_id)

    async def start(self, session: SessionRecord) -> None:
        if session.tenant_id != self.scope.tenant_id:
            raise ValueError("a session belongs to the tenant of its repository")
        await session.insert()

    async def add_token(self, token: RefreshTokenRecord) -> None:
        if token.tenant_id != self.scope.tenant_id:
            raise ValueError("a refresh token belongs to the tenant of its repository")
        await token.insert()

    async def spend(self, token_id: str) -> bool:
        """Delete the token; True only for the one caller whose delete removed it."""
        return await self.scope.collection(RefreshTokenRecord).delete_by_id(token_id)

    async def end(self, session_id: str) -> bool:
        """Revoke the session: every refresh token of it is refused from now on. False if it
        had already ended."""
        return await self.scope.collection(SessionRecord).delete_by_id(session_id)

    async def used(self, session_id: str, fields: dict[str, Any]) -> None:
        """Note a refresh of the session (when, from where)."""
        await self.scope.collection(SessionRecord).set_by_id(session_id, fields)

    async def index(self, user_id: str) -> SessionIndexRecord:
        """The ids of the sessions the user started (an empty index if none was written)."""
        key = f"{self.scope.tenant_id}:{user_id}"
        found = await self.scope.get(SessionIndexRecord, key)
        return found or SessionIndexRecord(id=key, tenant_id=self.scope.tenant_id, user_id=user_id)

    async def write_index(self, index: SessionIndexRecord) -> None:
        """Callers hold the user's session lock: the index is rewritten from a read."""
        await self.scope.collection(SessionIndexRecord).replace_by_id(
            {
                "_id": index.id,
                "tenant_id": index.tenant_id,
                "user_id": index.user_id,
                "session_ids": list(index.session_ids),
            }
        )
