"""The public routes of API.md "Tenants and auth". Thin: parse, call the service, answer."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from parley_auth.dependencies import AuthServiceDep, ClientIp
from parley_contracts.resources import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Login,
    Page,
    RefreshRequest,
    RolesUpdate,
    SignedUp,
    Signup,
    TenantCreate,
    TenantCreated,
    Tokens,
    User,
)
from parley_kit.identity import CurrentClaims

router = APIRouter()


@router.post("/v1/tenants", status_code=status.HTTP_201_CREATED, tags=["tenants"])
async def create_tenant(body: TenantCreate, service: AuthServiceDep, ip: ClientIp) -> TenantCreated:
    """Create a tenant and its owner; answers with the owner's tokens."""
    return await service.create_tenant(body, ip)


@router.post("/v1/auth/signup", status_code=status.HTTP_201_CREATED, tags=["auth"])
async def signup(body: Signup, service: AuthServiceDep, ip: ClientIp) -> SignedUp:
    return await service.signup(body, ip)


@router.post("/v1/auth/login", tags=["auth"])
async def login(body: Login, service: AuthServiceDep, ip: ClientIp) -> Tokens:
    return await service.login(body, ip)


@router.post("/v1/auth/refresh", tags=["auth"])
async def refresh(body: RefreshRequest, service: AuthServiceDep) -> Tokens:
    return await service.refresh(body.refresh_token)


@router.post("/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def logout(body: RefreshRequest, service: AuthServiceDep) -> Response:
    await service.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/auth/me", tags=["auth"])
async def me(claims: CurrentClaims, service: AuthServiceDep) -> User:
    return await service.me(claims)


@router.get("/v1/users", tags=["users"])
async def list_users(
    claims: CurrentClaims,
    service: AuthServiceDep,
    q: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Page[User]:
    return await service.list_users(claims, q, cursor, limit)


@router.put("/v1/users/{user_id}/roles", tags=["users"])
async def set_roles(
    user_id: str, body: RolesUpdate, claims: CurrentClaims, service: AuthServiceDep
) -> User:
    return await service.set_roles(claims, user_id, body.roles)


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(request: Request) -> dict[str, list[dict[str, str]]]:
    """The public keys that verify access tokens."""
    keys: dict[str, list[dict[str, str]]] = request.app.state.signing_keys.jwks()
    return keys
