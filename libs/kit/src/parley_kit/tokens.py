"""Access-token verification against auth's JWKS, cached; only asymmetric algorithms.

Keys are fetched once and cached for `cache_seconds`; an unknown `kid` triggers one refetch
(rate-limited) so a rotated key is picked up without a restart. `alg: none` and every HMAC
algorithm are refused before any key is looked at, so a token "signed" with the public key
as an HMAC secret can never pass.
"""

import asyncio
import json
import time
from typing import Any, Final

import httpx
import jwt
from jwt import PyJWK
from pydantic import ValidationError

from parley_contracts.claims import AccessClaims
from parley_kit.logs import get_logger

ALLOWED_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "PS256")
_MIN_REFETCH_SECONDS: Final = 10.0

log = get_logger(__name__)


class InvalidToken(Exception):
    """The token is missing, malformed, unsigned, expired, or not for us."""


class KeysUnavailable(Exception):
    """The JWKS could not be fetched and no cached key can decide."""


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
    ) -> None:
        self._url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._http = http
        self._cache_seconds = cache_seconds
        self._leeway = leeway_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def load_jwks(self, jwks: dict[str, Any]) -> None:
        """Use these keys (e.g. from a file or a test) instead of fetching."""
        keys: dict[str, PyJWK] = {}
        for entry in jwks.get("keys", []):
            try:
                key = PyJWK.from_dict(entry)
            except jwt.PyJWTError as exc:
                log.warning("skipping unusable JWK", kid=entry.get("kid"), error=str(exc))
                continue
            if key.algorithm_name not in ALLOWED_ALGORITHMS:
                continue
            keys[str(entry.get("kid", ""))] = key
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def refresh(self) -> None:
        try:
            response = await self._http.get(self._url, timeout=5.0)
            response.raise_for_status()
            self.load_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise KeysUnavailable(f"cannot fetch JWKS from {self._url}: {exc}") from exc

    async def _key_for(self, kid: str) -> PyJWK:
        now = time.monotonic()
        stale = now - self._fetched_at > self._cache_seconds
        if kid in self._keys and not stale:
            return self._keys[kid]
        async with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > self._cache_seconds
            missing = kid not in self._keys
            may_refetch = now - self._fetched_at > _MIN_REFETCH_SECONDS or not self._keys
            if stale or (missing and may_refetch):
                try:
                    await self.refresh()
                except KeysUnavailable:
                    if kid not in self._keys:
                        raise
                    log.warning("JWKS refresh failed; using cached keys")
        if kid not in self._keys:
            raise InvalidToken("unknown signing key")
        return self._keys[kid]

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
