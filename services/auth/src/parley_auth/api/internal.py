"""Routes for other Parley services only (internal secret required; never via the gateway)."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from parley_auth.dependencies import AuthServiceDep, ClientIp
from parley_auth.service import AuthzState
from parley_contracts.resources import Tenant, User
from parley_contracts.validation import Slug
from parley_kit.identity import InternalCaller

router = APIRouter(prefix="/internal/v1", dependencies=[InternalCaller], include_in_schema=False)

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ResolveUsers(BaseModel):
    tenant_id: Id
    user_ids: list[Id] = Field(max_length=1000)


class UsersByName(BaseModel):
    tenant_id: Id
    usernames: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        max_length=1000
    )


class EnsureTenant(BaseModel):
    slug: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UserRef(BaseModel):
    tenant_id: Id
    user_id: Id


class UsersFound(BaseModel):
    users: list[User]


class TenantFound(BaseModel):
    tenant: Tenant


@router.post("/users:resolve")
async def resolve_users(body: ResolveUsers, service: AuthServiceDep) -> UsersFound:
    return UsersFound(users=await service.resolve(body.tenant_id, body.user_ids))


@router.post("/users:by-username")
async def users_by_username(body: UsersByName, service: AuthServiceDep) -> UsersFound:
    return UsersFound(users=await service.by_usernames(body.tenant_id, body.usernames))


@router.post("/tenants:ensure")
async def ensure_tenant(body: EnsureTenant, service: AuthServiceDep, ip: ClientIp) -> TenantFound:
    """The tenant, created on first use; creating one counts against the client IP forwarded
    in `X-Forwarded-For` (else the caller's own address), like `POST /v1/tenants`."""
    return TenantFound(tenant=await service.ensure_tenant(body.slug, body.name, ip))


@router.post("/users:authz")
async def authz_version(body: UserRef, service: AuthServiceDep) -> AuthzState:
    """The user's current authorization version (see `parley_auth.authz`); 404 if the user is
    gone. Seeds the Redis copy that token verifiers compare access tokens' `av` with."""
    return await service.authz_version(body.tenant_id, body.user_id)
