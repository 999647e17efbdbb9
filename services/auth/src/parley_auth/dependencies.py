"""FastAPI dependencies of auth, built from what the lifespan put on `app.state`."""

import hmac
from typing import Annotated

from fastapi import Depends, Request

from parley_auth.service import AuthService
from parley_kit.identity import INTERNAL_TOKEN_HEADER


async def auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


async def client_ip(request: Request) -> str:
    """The caller's IP: from `X-Forwarded-For` only when the gateway (holding the internal
    secret) forwarded the call; otherwise the socket peer, so a client cannot pick its IP."""
    settings = request.app.state.settings
    presented = (request.headers.get(INTERNAL_TOKEN_HEADER) or "").encode()
    expected = settings.internal_secret.get_secret_value().encode()
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and presented and hmac.compare_digest(presented, expected):
        return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


AuthServiceDep = Annotated[AuthService, Depends(auth_service)]
ClientIp = Annotated[str, Depends(client_ip)]
