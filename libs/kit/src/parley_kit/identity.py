"""Who is calling: the identity the gateway forwards, or a bearer token verified via JWKS.

The gateway verifies the access token once at the edge and forwards the claims in
`X-Parley-Identity` as `<base64url(claims json)>.<unix time>.<hmac-sha256>` signed with the
shared internal secret. A service trusts that header only if the signature is valid and it is
at most `max_age` seconds old, so a client cannot forge it (it lacks the secret) and a captured
header goes stale quickly. Without the header a service verifies a bearer token itself, which
keeps services directly callable (tests, internal tools) without trusting the network.
"""

import base64
import hashlib
import hmac
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from parley_contracts.claims import AccessClaims
from parley_kit.problems import ServiceUnavailable, Unauthorized
from parley_kit.tokens import InvalidToken, JwksVerifier, KeysUnavailable, bearer_token, claims_json

IDENTITY_HEADER = "X-Parley-Identity"
# The client's address as the gateway saw it, signed like the identity: services that bound
# something per client (auth's login and signup limits) trust this header, never a bare
# `X-Forwarded-For`, and the gateway never needs to send the internal secret to say it.
CLIENT_IP_HEADER = "X-Parley-Client-IP"
_CLIENT_IP_DOMAIN = "client-ip:"  # a signed address can never pass as a signed identity


class ForwardedIdentity:
    def __init__(self, secret: str, max_age_seconds: float = 60.0) -> None:
        if not secret:
            raise ValueError("the internal secret must not be empty")
        self._secret = secret.encode()
        self._max_age = max_age_seconds

    def _mac(self, payload: str, issued: str) -> str:
        digest = hmac.new(self._secret, f"{payload}.{issued}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign_client_ip(self, ip: str, now: float | None = None) -> str:
        """The `X-Parley-Client-IP` value for a client address."""
        payload = base64.urlsafe_b64encode(ip.encode()).rstrip(b"=").decode()
        issued = str(int(now if now is not None else time.time()))
        return f"{payload}.{issued}.{self._mac(_CLIENT_IP_DOMAIN + payload, issued)}"

    def verify_client_ip(self, header: str, now: float | None = None) -> str:
        """The client address of a signed `X-Parley-Client-IP` value; `InvalidToken` if the
        signature is wrong or old."""
        try:
            payload, issued, mac = header.split(".")
        except ValueError as exc:
            raise InvalidToken("malformed client address") from exc
        if not hmac.compare_digest(mac, self._mac(_CLIENT_IP_DOMAIN + payload, issued)):
            raise InvalidToken("client address signature mismatch")
        current = now if now is not None else time.time()
        if not issued.isdigit() or abs(current - int(issued)) > self._max_age:
            raise InvalidToken("client address expired")
        try:
            return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()[:64]
        except ValueError as exc:
            raise InvalidToken("client address is unreadable") from exc

    def sign(self, claims: AccessClaims, now: float | None = None) -> str:
        payload = base64.urlsafe_b64encode(claims_json(claims).encode()).rstrip(b"=").decode()
        issued = str(int(now if now is not None else time.time()))
        return f"{payload}.{issued}.{self._mac(payload, issued)}"

    def verify(self, header: str, now: float | None = None) -> AccessClaims:
        try:
            payload, issued, mac = header.split(".")
        except ValueError as exc:
            raise InvalidToken("malformed forwarded identity") from exc
        if not hmac.compare_digest(mac, self._mac(payload, issued)):
            raise InvalidToken("forwarded identity signature mismatch")
        current = now if now is not None else time.time()
        if not issued.isdigit() or abs(current - int(issued)) > self._max_age:
            raise InvalidToken("forwarded identity expired")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            claims = AccessClaims.model_validate_json(raw)
        except (ValueError, ValidationError) as exc:
            raise InvalidToken("forwarded identity is unreadable") from exc
        if claims.exp < current:
            raise InvalidToken("access token expired")
        return claims


class Authenticator:
    """Decides the caller of a request; stored on `app.state.authenticator` by the lifespan."""

    def __init__(self, verifier: JwksVerifier, forwarded: ForwardedIdentity) -> None:
        self.verifier = verifier
        self.forwarded = forwarded

    async def authenticate(self, authorization: str | None, identity: str | None) -> AccessClaims:
        try:
            if identity:
                return self.forwarded.verify(identity)
            token = bearer_token(authorization)
            if token is None:
                raise Unauthorized("missing bearer token")
            return await self.verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from exc
        except KeysUnavailable as exc:
            raise ServiceUnavailable("token keys are unavailable; try again shortly") from exc


# Declares the bearer requirement in OpenAPI (each route that needs a caller documents it and
# its 401); the header itself is read by `Authenticator`, which also accepts the gateway's
# forwarded identity instead.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT")


async def current_claims(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> AccessClaims:
    authenticator: Authenticator = request.app.state.authenticator
    claims = await authenticator.authenticate(
        request.headers.get("authorization"), request.headers.get(IDENTITY_HEADER)
    )
    request.state.claims = claims
    return claims


CurrentClaims = Annotated[AccessClaims, Depends(current_claims)]


INTERNAL_TOKEN_HEADER = "X-Parley-Internal-Token"


async def internal_caller(request: Request) -> None:
    """Admit only other Parley services (they hold the internal secret) to `/internal/*`.

    Internal routes are not exposed by the gateway; this check keeps them closed even when a
    service port is reachable from outside by mistake.
    """
    settings = request.app.state.settings
    expected = settings.internal_secret.get_secret_value().encode()
    presented = (request.headers.get(INTERNAL_TOKEN_HEADER) or "").encode()
    if not presented or not hmac.compare_digest(presented, expected):
        raise Unauthorized("internal route: missing or wrong internal token")


InternalCaller = Depends(internal_caller)
