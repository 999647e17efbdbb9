"""Admission at the edge: who is calling (access token verified here, once, and checked against
the caller's current authorization version) and whether they are within their rate limit.
Services receive the verified identity with the caller's current roles, signed, never the
token."""

from dataclasses import dataclass

from fastapi import Request

from parley_contracts.claims import AccessClaims
from parley_gateway.authz import AuthzVersions
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
        authz: AuthzVersions,
        *,
        per_user: BucketPolicy,
        per_ip: BucketPolicy,
    ) -> None:
        self.verifier = verifier
        self._forwarded = forwarded
        self._limiter = limiter
        self._authz = authz
        self._per_user = per_user
        self._per_ip = per_ip

    @property
    def authz(self) -> AuthzVersions:
        """The authorization versions the edge checks tokens against (sockets re-check)."""
        return self._authz

    async def _signed(self, token: str) -> AccessClaims:
        """The claims of a token with a valid signature, audience, issuer and lifetime."""
        try:
            return await self.verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from exc
        except KeysUnavailable as exc:
            raise ServiceUnavailable("token keys are unavailable; try again shortly") from exc

    async def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token that is not older than its user's current roles (the
        roles as they are now); 401 otherwise. Sockets verify their tokens here."""
        claims = await self._signed(token)
        stored, available = await self._authz.read(claims)
        return await self._authz.current(claims, stored, available=available)

    async def admit(self, request: Request, *, public: bool) -> Caller:
        """The caller of `request`; 401 without a valid, current token on a private route, 429
        over the limit.

        A public route (login, signup, ...) ignores a bad or outdated token rather than
        refusing a client that still sends its old one. The rate limit and the caller's current
        authorization version are read in one Redis round trip.
        """
        ip = request.client.host if request.client else "unknown"
        token = bearer_token(request.headers.get("authorization"))
        claims: AccessClaims | None = None
        if token is not None:
            try:
                claims = await self._signed(token)
            except Unauthorized:
                if not public:
                    raise
        elif not public:
            raise Unauthorized("missing bearer token")
        if claims is not None:
            decision = await self._limiter.take(
                f"u:{claims.tid}:{claims.sub}", self._per_user, read=self._authz.key(claims)
            )
        else:
            decision = await self._limiter.take(f"ip:{ip}", self._per_ip)
        if not decision.allowed:
            raise TooManyRequests(decision.retry_after)
        if claims is not None:
            try:
                claims = await self._authz.current(
                    claims, decision.read, available=not decision.read_failed
                )
            except Unauthorized:
                if not public:
                    raise
                claims = None
        return Caller(claims, ip)

    def identity(self, claims: AccessClaims) -> str:
        """The signed `X-Parley-Identity` header value for a verified caller."""
        return self._forwarded.sign(claims)
