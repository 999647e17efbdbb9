"""Issuing access and refresh tokens, and rotating refresh tokens within a session.

A refresh token reads `<tenant>.<session>.<token>.<secret>`: the ids let every lookup be by
`_id`, the secret (256 random bits, stored only as its SHA-256) proves the holder. A session
has one live refresh token at a time. Spending it is deleting its document, an atomic step on
every engine: of parallel refreshes with one token exactly one delete removes it and wins; each
other one is reuse and ends the session by deleting the session document, so the winner's new
token dies with it (every refresh looks its session up). A spent token presented later finds
its document gone but its session named in the token: that is reuse too.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from parley_auth.keys import SigningKeys
from parley_auth.models import RefreshTokenRecord, UserRecord
from parley_auth.repository import SessionRepository
from parley_auth.sessions import ClientInfo, UserSessions, public_session_id
from parley_auth.settings import AuthSettings
from parley_contracts.resources import Tokens
from parley_kit.logs import get_logger
from parley_kit.problems import Unauthorized

log = get_logger(__name__)

INVALID = "invalid refresh token"
REUSED = "refresh token reused; the session has been revoked"
_TOKEN = re.compile(r"^([0-9a-f]{24})\.([0-9a-f]{32})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class RefreshToken:
    tenant_id: str
    session_id: str
    token_id: str
    secret: str

    @classmethod
    def parse(cls, value: str) -> "RefreshToken":
        match = _TOKEN.fullmatch(value)
        if match is None:
            raise Unauthorized(INVALID)
        return cls(*match.groups())

    def __str__(self) -> str:
        return f"{self.tenant_id}.{self.session_id}.{self.token_id}.{self.secret}"


class SessionReplayed(Unauthorized):
    """A spent refresh token was presented: its session is over, and the access tokens it
    produced must not outlive it."""

    def __init__(self, tenant_id: str, user_id: str) -> None:
        super().__init__(REUSED)
        self.tenant_id = tenant_id
        self.user_id = user_id


@dataclass(frozen=True)
class SpentToken:
    """A refresh token this caller alone spent: the session continues with a new one."""

    tenant_id: str
    user_id: str
    session_id: str
    valid_from: datetime  # when the session began, or was last kept by a password change


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def aware(value: datetime) -> datetime:
    """A stored time as UTC-aware (the store hands back naive UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class TokenIssuer:
    def __init__(self, settings: AuthSettings, keys: SigningKeys, sessions: UserSessions) -> None:
        self._settings = settings
        self._keys = keys
        self._sessions = sessions

    def access_token(self, user: UserRecord, session_id: str) -> str:
        issued = SigningKeys.now()
        return self._keys.sign(
            {
                "sub": str(user.id),
                "tid": user.tenant_id,
                "roles": [role.value for role in user.roles],
                "av": user.authz_version,
                "sid": public_session_id(session_id),
                "username": user.username,
                "iat": issued,
                "exp": issued + self._settings.access_token_seconds,
                "jti": uuid.uuid4().hex,
                "iss": self._settings.jwt_issuer,
                "aud": self._settings.jwt_audience,
            }
        )

    async def issue(
        self, user: UserRecord, client: ClientInfo, session_id: str | None = None
    ) -> Tokens:
        """Tokens for `user`: a new session, or the next refresh token of `session_id`."""
        sessions = SessionRepository(user.tenant_id)
        if session_id is None:
            session_id = await self._sessions.start(user, client)
        else:
            used: dict[str, object] = {"last_used_at": datetime.now(UTC)}
            used |= {"ip": client.ip} if client.ip else {}
            used |= {"user_agent": client.user_agent} if client.user_agent else {}
            await sessions.used(session_id, used)
        refresh = RefreshToken(
            user.tenant_id, session_id, uuid.uuid4().hex, secrets.token_urlsafe(32)
        )
        await sessions.add_token(
            RefreshTokenRecord(
                id=refresh.token_id,
                tenant_id=user.tenant_id,
                session_id=session_id,
                secret_hash=secret_hash(refresh.secret),
                expires_at=datetime.now(UTC) + timedelta(days=self._settings.refresh_token_days),
            )
        )
        return Tokens(
            access_token=self.access_token(user, session_id),
            refresh_token=str(refresh),
            expires_in=self._settings.access_token_seconds,
        )

    async def spend(self, presented: str) -> SpentToken:
        """Spend a live refresh token (401 otherwise). Reuse of a spent one, including a
        parallel spend of the same token, revokes the whole session."""
        token = RefreshToken.parse(presented)
        sessions = SessionRepository(token.tenant_id)
        record = await sessions.token(token.token_id)
        if record is None:
            await self._revoke_on_reuse(sessions, token)
            raise Unauthorized(INVALID)
        if record.session_id != token.session_id or not hmac.compare_digest(
            record.secret_hash, secret_hash(token.secret)
        ):
            raise Unauthorized(INVALID)  # not the holder: nothing to revoke
        session = await sessions.session(token.session_id)
        if session is None:
            raise Unauthorized("the session has ended")
        if aware(record.expires_at) < datetime.now(UTC):
            await sessions.end(session.id)
            raise Unauthorized("refresh token expired")
        if not await sessions.spend(token.token_id):
            # Someone spent this very token in the meantime: two holders, one is a thief.
            await sessions.end(session.id)
            log.warning("refresh token reused in parallel", session_id=session.id)
            raise SessionReplayed(session.tenant_id, session.user_id)
        valid_from = max(aware(session.created_at), aware(session.kept_at or session.created_at))
        return SpentToken(session.tenant_id, session.user_id, session.id, valid_from)

    async def _revoke_on_reuse(self, sessions: SessionRepository, token: RefreshToken) -> None:
        # The token is gone: spent (reuse), or its session ended or never existed. Only a
        # holder of some token of the session knows its random id, so a live session named
        # here is being replayed: end it.
        session = await sessions.session(token.session_id)
        if session is not None:
            await sessions.end(session.id)
            log.warning("spent refresh token presented", session_id=session.id)
            raise SessionReplayed(session.tenant_id, session.user_id)

    async def revoke(self, presented: str) -> None:
        """Logout: end the session of a refresh token of it (spent ones included)."""
        token = RefreshToken.parse(presented)
        sessions = SessionRepository(token.tenant_id)
        record = await sessions.token(token.token_id)
        if record is not None and (
            record.session_id != token.session_id
            or not hmac.compare_digest(record.secret_hash, secret_hash(token.secret))
        ):
            raise Unauthorized(INVALID)
        session = await sessions.session(token.session_id)
        if session is None:
            raise Unauthorized(INVALID)
        await sessions.end(session.id)
        if record is not None:
            await sessions.spend(record.id)
