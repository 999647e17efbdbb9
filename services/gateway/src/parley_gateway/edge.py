"""Admission at the edge: who is calling (access token verified here, once) and whether they
are within their rate limit. Services receive the verified identity, signed, never the token."""

from dataclasses import dataclass

from fastapi import Request

from parley_contracts.claims import AccessClaims
from parley_gateway.ratelimit import BucketPolicy, RateLimiter
from parley_kit.identity import ForwardedIdentity
from parley_kit.problems import ServiceUnavailable, TooManyRequests, Unauthorized
from parley_kit.tokens import InvalidToken, JwksVerifier, KeysUnavailable, bearer_token


@dataclass(frozen=True)
class Caller:
    claims: AccessClaims | None
    ip: str


class Edge:
    def __init__(
        self,
        verifier: JwksVerifier,
        forwarded: ForwardedIdentity,
        limiter: RateLimiter,
        *,
        per_user: BucketPolicy,
        per_ip: BucketPolicy,
    ) -> None:
        self.verifier = verifier
        self._forwarded = forwarded
        self._limiter = limiter
        self._per_user = per_user
        self._per_ip = per_ip

    async def verify(self, token: str) -> AccessClaims:
        try:
            return await self.verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from exc
        except KeysUnavailable as exc:
            raise ServiceUnavailable("token keys are unavailable; try again shortly") from exc

    async def admit(self, request: Request, *, public: bool) -> Caller:
        """The caller of `request`; 401 without a valid token on a private route, 429 over limit.

        A public route (login, signup, ...) ignores a bad token rather than refusing a client
        that still sends its expired one.
        """
        ip = request.client.host if request.client else "unknown"
        token = bearer_token(request.headers.get("authorization"))
        claims: AccessClaims | None = None
        if token is not None:
            try:
                claims = await self.verify(token)
            except Unauthorized:
                if not public:
                    raise
        elif not public:
            raise Unauthorized("missing bearer token")
        if claims is not None:
            decision = await self._limiter.take(f"u:{claims.tid}:{claims.sub}", self._per_user)
        else:
            decision = await self._limiter.take(f"ip:{ip}", self._per_ip)
        if not decision.allowed:
            raise TooManyRequests(decision.retry_after)
        return Caller(claims, ip)

    def identity(self, claims: AccessClaims) -> str:
        """The signed `X-Parley-Identity` header value for a verified caller."""
        return self._forwarded.sign(claims)
