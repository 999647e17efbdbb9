"""The public routes of API.md "Tenants and auth". Thin: parse, call the service, answer."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from parley_auth.dependencies import AuthServiceDep, Client, ClientIp
from parley_contracts.resources import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Login,
    Page,
    PasswordChange,
    ProfileUpdate,
    RefreshRequest,
    RolesUpdate,
    SessionList,
    SignedUp,
    Signup,
    TenantCreate,
    TenantCreated,
    Tokens,
    User,
)
from parley_kit.identity import CurrentClaims

router = APIRouter()

SESSION_ID_PATTERN = "^[0-9a-f]{32}$"


@router.post("/v1/tenants", status_code=status.HTTP_201_CREATED, tags=["tenants"])
async def create_tenant(
    body: TenantCreate, service: AuthServiceDep, ip: ClientIp, client: Client
) -> TenantCreated:
    """Create a tenant and its owner; answers with the owner's tokens."""
    return await service.create_tenant(body, ip, client)


@router.post("/v1/auth/signup", status_code=status.HTTP_201_CREATED, tags=["auth"])
async def signup(body: Signup, service: AuthServiceDep, ip: ClientIp, client: Client) -> SignedUp:
    return await service.signup(body, ip, client)


@router.post("/v1/auth/login", tags=["auth"])
async def login(body: Login, service: AuthServiceDep, ip: ClientIp, client: Client) -> Tokens:
    """401 for wrong credentials, and for a deactivated account."""
    return await service.login(body, ip, client)


@router.post("/v1/auth/refresh", tags=["auth"])
async def refresh(body: RefreshRequest, service: AuthServiceDep, client: Client) -> Tokens:
    """401 for a spent, revoked or unknown refresh token, and for a deactivated account."""
    return await service.refresh(body.refresh_token, client)


@router.post("/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def logout(body: RefreshRequest, service: AuthServiceDep) -> Response:
    await service.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/auth/me", tags=["auth"])
async def me(claims: CurrentClaims, service: AuthServiceDep) -> User:
    return await service.me(claims)


@router.patch("/v1/auth/me", tags=["auth"])
async def update_me(body: ProfileUpdate, claims: CurrentClaims, service: AuthServiceDep) -> User:
    """Change the caller's display name (null clears it) and/or email; 409 when the email is
    another user's in the tenant."""
    return await service.update_profile(claims, body)


@router.post("/v1/auth/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def change_password(
    body: PasswordChange, claims: CurrentClaims, service: AuthServiceDep, ip: ClientIp
) -> Response:
    """Replace the caller's password; every other session of theirs ends (their refresh tokens
    are refused). 403 when `current_password` is wrong."""
    await service.change_password(claims, body, ip)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/auth/sessions", tags=["auth"])
async def list_sessions(claims: CurrentClaims, service: AuthServiceDep) -> SessionList:
    """The caller's live sessions (refresh-token families), newest first; `current` marks the
    one the access token was issued in."""
    return SessionList(items=await service.sessions(claims))


@router.delete(
    "/v1/auth/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"]
)
async def end_session(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN)],
    claims: CurrentClaims,
    service: AuthServiceDep,
) -> Response:
    """End one of the caller's sessions (its refresh token is refused from now on); 404 for
    an id that is not one of the caller's sessions."""
    await service.end_session(claims, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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


@router.post("/v1/users/{user_id}/deactivate", tags=["users"])
async def deactivate(user_id: str, claims: CurrentClaims, service: AuthServiceDep) -> User:
    """Tenant owners and admins: the user can no longer sign in or refresh, their sessions end
    and their access tokens are refused from the next request. 403 for other callers, for
    oneself, and for an admin deactivating an owner; 404 for an unknown user."""
    return await service.deactivate(claims, user_id)


@router.post("/v1/users/{user_id}/reactivate", tags=["users"])
async def reactivate(user_id: str, claims: CurrentClaims, service: AuthServiceDep) -> User:
    """Tenant owners and admins: the user may sign in again."""
    return await service.reactivate(claims, user_id)


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(request: Request) -> dict[str, list[dict[str, str | int]]]:
    """The public keys that verify access tokens: the current one, a staged one, and retiring
    ones with `exp` (unix time) past which they verify nothing."""
    keys: dict[str, list[dict[str, str | int]]] = request.app.state.signing_keys.jwks()
    return keys
