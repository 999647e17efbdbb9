"""Access-token verification against auth's JWKS, cached; only asymmetric algorithms.

Keys are fetched once and cached for `cache_seconds`. A token whose `kid` is not cached waits
for a fetch that starts after it arrived: requests arriving together share one fetch, and
fetches are at least `min_refetch_seconds` apart (a flood of made-up key ids costs auth one
fetch per interval and each such request at most that long), but a key published since the last
fetch is never refused for having come too soon after it: a token signed by a just-promoted key
is accepted by every verifier at once. A key published with `exp` (a retiring key, see
parley_auth.keys) verifies nothing past that time, without waiting for a refetch. A key cached
as `"state": "staged"` that signs a token has been promoted since: that token starts a refetch
beside its verification, which brings the expiry of the key it replaced.

`alg: none` and every HMAC algorithm are refused before any key is looked at, so a token
"signed" with the public key as an HMAC secret can never pass.
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt
from jwt import PyJWK
from pydantic import ValidationError

from parley_contracts.claims import AccessClaims
from parley_kit.logs import get_logger

ALLOWED_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "PS256")

log = get_logger(__name__)


class InvalidToken(Exception):
    """The token is missing, malformed, unsigned, expired, or not for us."""


class KeysUnavailable(Exception):
    """The JWKS could not be fetched and no cached key can decide."""


@dataclass(frozen=True)
class _PublishedKey:
    key: PyJWK
    expires_at: float | None  # unix time past which it verifies nothing (a retiring key)
    staged: bool  # published ahead of signing when fetched: a token of it means a promotion


def _expiry(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return 0.0  # an unreadable expiry counts as expired: refusing is the safe reading


class JwksVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        http: httpx.AsyncClient,
        cache_seconds: float = 300.0,
        leeway_seconds: float = 5.0,
        min_refetch_seconds: float = 1.0,
        jwks_source: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        """`jwks_source` replaces the fetch from `jwks_url` (auth verifies with its own keys
        in-process: its public URL may not lead back to itself)."""
        self._url = jwks_url
        self._source = jwks_source
        self._issuer = issuer
        self._audience = audience
        self._http = http
        self._cache_seconds = cache_seconds
        self._leeway = leeway_seconds
        self._min_refetch = min_refetch_seconds
        self._keys: dict[str, _PublishedKey] = {}
        self._fetched_at = float("-inf")  # monotonic: when the cached keys were fetched
        self._attempted_at = float("-inf")  # monotonic: when the last fetch started
        self._attempt_failure: str | None = None
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None  # held: a task nobody holds may vanish

    def load_jwks(self, jwks: dict[str, Any]) -> None:
        """Use these keys (e.g. from a file or a test) instead of fetching."""
        keys: dict[str, _PublishedKey] = {}
        for entry in jwks.get("keys", []):
            try:
                key = PyJWK.from_dict(entry)
            except jwt.PyJWTError as exc:
                log.warning("skipping unusable JWK", kid=entry.get("kid"), error=str(exc))
                continue
            if key.algorithm_name not in ALLOWED_ALGORITHMS:
                continue
            keys[str(entry.get("kid", ""))] = _PublishedKey(
                key, _expiry(entry.get("exp")), entry.get("state") == "staged"
            )
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def refresh(self) -> None:
        if self._source is not None:
            self.load_jwks(await self._source())
            return
        try:
            response = await self._http.get(self._url, timeout=5.0)
            response.raise_for_status()
            self.load_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise KeysUnavailable(f"cannot fetch JWKS from {self._url}: {exc}") from exc

    async def _fetch_since(self, moment: float) -> None:
        """Make sure a fetch that started at or after `moment` has run: the one that did, or a
        new one, at most one at a time and `min_refetch_seconds` after the previous start."""
        async with self._lock:
            recent = time.monotonic() - self._attempted_at < self._min_refetch
            if self._attempted_at < moment and not (recent and self._attempt_failure):
                wait = self._attempted_at + self._min_refetch - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._attempted_at = time.monotonic()
                self._attempt_failure = None
                try:
                    await self.refresh()
                except KeysUnavailable as exc:
                    self._attempt_failure = str(exc)
            if self._attempt_failure is not None:
                raise KeysUnavailable(self._attempt_failure)

    async def _refresh_or_keep(self, moment: float) -> None:
        try:
            await self._fetch_since(moment)
        except KeysUnavailable as exc:
            log.warning("JWKS refresh failed; using cached keys", error=str(exc))

    def _refresh_running(self) -> bool:
        return self._lock.locked() or not (self._refreshing is None or self._refreshing.done())

    async def _key_for(self, kid: str) -> PyJWK:
        arrived = time.monotonic()
        if kid not in self._keys:
            await self._fetch_since(arrived)
        elif (
            self._keys[kid].staged or arrived - self._fetched_at > self._cache_seconds
        ) and not self._refresh_running():
            # A known key answers now; the refetch runs beside. Stale keys: it adds keys or
            # drops retired ones (retiring keys carry their own expiry). A staged key that
            # signs was promoted since: it brings the expiry of the key that one replaced.
            self._refreshing = asyncio.create_task(self._refresh_or_keep(arrived))
        published = self._keys.get(kid)
        if published is None:
            raise InvalidToken("unknown signing key")
        if published.expires_at is not None and published.expires_at <= time.time():
            raise InvalidToken("signing key retired")
        return published.key

    async def verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        key = await self._key_for(kid)
        if key.algorithm_name != algorithm:
            raise InvalidToken("token algorithm does not match its key")
        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            return AccessClaims.model_validate(payload)
        except ValidationError as exc:
            raise InvalidToken("token claims are incomplete") from exc


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if that is what it is."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def claims_json(claims: AccessClaims) -> str:
    return json.dumps(claims.model_dump(mode="json"), separators=(",", ":"), sort_keys=True)
