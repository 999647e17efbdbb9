"""FastAPI dependencies of auth, built from what the lifespan put on `app.state`."""

import hmac
from typing import Annotated

from fastapi import Depends, Request

from parley_auth.service import AuthService
from parley_auth.sessions import ClientInfo
from parley_kit.identity import CLIENT_IP_HEADER, INTERNAL_TOKEN_HEADER, Authenticator
from parley_kit.tokens import InvalidToken


async def auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


async def client_ip(request: Request) -> str:
    """The caller's IP: the address the gateway signed in `X-Parley-Client-IP` (public calls
    it forwards carry no secret), or `X-Forwarded-For` on a call that holds the internal
    secret (another service); otherwise the socket peer, so a client cannot pick its IP."""
    signed = request.headers.get(CLIENT_IP_HEADER)
    if signed:
        authenticator: Authenticator = request.app.state.authenticator
        try:
            return authenticator.forwarded.verify_client_ip(signed)
        except InvalidToken:
            pass  # a forged or stale address counts as none: the peer's own is used
    settings = request.app.state.settings
    presented = (request.headers.get(INTERNAL_TOKEN_HEADER) or "").encode()
    expected = settings.internal_secret.get_secret_value().encode()
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and presented and hmac.compare_digest(presented, expected):
        return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


AuthServiceDep = Annotated[AuthService, Depends(auth_service)]
ClientIp = Annotated[str, Depends(client_ip)]

USER_AGENT_CHARS = 256


async def client_info(request: Request, ip: ClientIp) -> ClientInfo:
    """Where a sign-in or refresh comes from, as the caller's session list shows it."""
    agent = request.headers.get("user-agent")
    return ClientInfo(user_agent=agent[:USER_AGENT_CHARS] if agent else None, ip=ip)


Client = Annotated[ClientInfo, Depends(client_info)]
