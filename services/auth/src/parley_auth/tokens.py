"""Issuing access and refresh tokens, and rotating refresh-token families."""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from parley_auth.keys import SigningKeys
from parley_auth.models import RefreshTokenRecord, UserRecord
from parley_auth.repository import RefreshTokenRepository
from parley_auth.settings import AuthSettings
from parley_contracts.resources import Tokens
from parley_kit.problems import Unauthorized


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    def __init__(
        self, settings: AuthSettings, keys: SigningKeys, refresh_tokens: RefreshTokenRepository
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._refresh_tokens = refresh_tokens

    def access_token(self, user: UserRecord) -> str:
        issued = SigningKeys.now()
        return self._keys.sign(
            {
                "sub": str(user.id),
                "tid": user.tenant_id,
                "roles": [role.value for role in user.roles],
                "username": user.username,
                "iat": issued,
                "exp": issued + self._settings.access_token_seconds,
                "jti": uuid.uuid4().hex,
                "iss": self._settings.jwt_issuer,
                "aud": self._settings.jwt_audience,
            }
        )

    async def issue(self, user: UserRecord, family_id: str | None = None) -> Tokens:
        refresh = secrets.token_urlsafe(32)
        await self._refresh_tokens.insert(
            RefreshTokenRecord(
                tenant_id=user.tenant_id,
                user_id=str(user.id),
                family_id=family_id or uuid.uuid4().hex,
                token_hash=hash_refresh_token(refresh),
                expires_at=datetime.now(UTC) + timedelta(days=self._settings.refresh_token_days),
            )
        )
        return Tokens(
            access_token=self.access_token(user),
            refresh_token=refresh,
            expires_in=self._settings.access_token_seconds,
        )

    async def spend(self, refresh_token: str) -> RefreshTokenRecord:
        """The live token behind `refresh_token`, now spent. Reuse revokes the whole family."""
        record = await self._refresh_tokens.by_hash(hash_refresh_token(refresh_token))
        if record is None or record.revoked:
            raise Unauthorized("invalid refresh token")
        if record.spent_at is not None or not await self._refresh_tokens.spend(
            record, datetime.now(UTC)
        ):
            await self._refresh_tokens.revoke_family(record.tenant_id, record.family_id)
            raise Unauthorized("refresh token reused; the session has been revoked")
        expires_at = record.expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at < datetime.now(UTC):
            raise Unauthorized("refresh token expired")
        return record

    async def revoke(self, refresh_token: str) -> None:
        record = await self._refresh_tokens.by_hash(hash_refresh_token(refresh_token))
        if record is None:
            raise Unauthorized("invalid refresh token")
        await self._refresh_tokens.revoke_family(record.tenant_id, record.family_id)
