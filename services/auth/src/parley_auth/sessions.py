"""The sessions of each user: started at login, listed, ended one by one or all at once.

A session is a refresh-token family (`tokens.py`). Listing a user's sessions must not filter
the sessions collection (FerretDB scans for any filter but `{_id: value}`), so each user has
an index document (`<tenant>:<user>`) naming the sessions they started; the sessions are then
read by `_id`. The index is rewritten from a read, so its writers of one user take turns under
a Redis lock; ending a session is deleting its document (atomic), and an index entry whose
session is gone is dropped the next time the index is read.

Starting a session re-reads the account under that lock: a login whose password check raced a
password change or a deactivation either lands in the index before the change ends every
session there, or sees the changed account and is refused. So no session outlives such a
change, however the calls interleave.

Clients see a session under a digest of its id (`public_session_id`), never the id itself:
only holders of a session's refresh tokens know the id, which is how a refresh token naming a
live session but a spent token is known to be a replay.
"""

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from parley_auth.models import SessionIndexRecord, SessionRecord, UserRecord
from parley_auth.repository import SessionRepository, UserRepository
from parley_kit.locks import RedisLock
from parley_kit.problems import Unauthorized


def public_session_id(session_id: str) -> str:
    """The id clients see of a session (in `GET /v1/auth/sessions` and the `sid` claim)."""
    return hashlib.sha256(f"parley-session:{session_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ClientInfo:
    """Where a login or refresh came from, as the session list shows it."""

    user_agent: str | None = None
    ip: str | None = None


class UserSessions:
    def __init__(self, locks: RedisLock, *, max_sessions: int) -> None:
        """`max_sessions`: an index longer than this is pruned of ended sessions when a session
        starts, and the oldest live ones beyond it are ended."""
        self._locks = locks
        self._max = max_sessions

    def _turn(self, tenant_id: str, user_id: str) -> str:
        return f"sessions:{tenant_id}:{user_id}"

    async def start(self, user: UserRecord, client: ClientInfo) -> str:
        """A new session of `user` (as read by the login), listed in their index; 401 if the
        account was deactivated or its password changed since it was read."""
        tenant_id, user_id = user.tenant_id, str(user.id)
        sessions = SessionRepository(tenant_id)
        session_id = uuid.uuid4().hex
        await sessions.start(
            SessionRecord(
                id=session_id,
                tenant_id=tenant_id,
                user_id=user_id,
                last_used_at=datetime.now(UTC),
                user_agent=client.user_agent,
                ip=client.ip,
            )
        )
        async with self._locks.held(self._turn(tenant_id, user_id)):
            now = await UserRepository(tenant_id).by_id(user_id)
            if now is None or not now.active or now.password_hash != user.password_hash:
                await sessions.end(session_id)
                raise Unauthorized("the account changed while signing in; sign in again")
            index = await sessions.index(user_id)
            index.session_ids.append(session_id)
            if len(index.session_ids) > self._max:
                await self._prune(sessions, index)
            await sessions.write_index(index)
        return session_id

    async def _prune(self, sessions: SessionRepository, index: SessionIndexRecord) -> None:
        """Drop ended sessions from the index; end the oldest beyond the per-user limit."""
        found = await self._read(sessions, index.session_ids)
        live = [sid for sid in index.session_ids if found.get(sid) is not None]
        excess = live[: max(0, len(live) - self._max)]
        for session_id in excess:
            await sessions.end(session_id)
        index.session_ids = live[len(excess) :]

    @staticmethod
    async def _read(
        sessions: SessionRepository, session_ids: list[str]
    ) -> dict[str, SessionRecord | None]:
        found = await asyncio.gather(*(sessions.session(sid) for sid in session_ids))
        return dict(zip(session_ids, found, strict=True))

    async def live(self, tenant_id: str, user_id: str) -> list[SessionRecord]:
        """The user's sessions that have not ended, newest first."""
        sessions = SessionRepository(tenant_id)
        index = await sessions.index(user_id)
        found = await self._read(sessions, index.session_ids)
        live = [s for s in found.values() if s is not None and s.user_id == user_id]
        if len(live) < len(index.session_ids):
            await self._forget(sessions, user_id, {sid for sid, s in found.items() if s is None})
        return sorted(live, key=lambda s: s.created_at, reverse=True)

    async def _forget(self, sessions: SessionRepository, user_id: str, ended: set[str]) -> None:
        async with self._locks.held(self._turn(sessions.scope.tenant_id, user_id)):
            index = await sessions.index(user_id)
            index.session_ids = [sid for sid in index.session_ids if sid not in ended]
            await sessions.write_index(index)

    async def end(self, tenant_id: str, user_id: str, public_id: str) -> bool:
        """End the user's session shown as `public_id`; False if they have no such session."""
        sessions = SessionRepository(tenant_id)
        index = await sessions.index(user_id)
        for session_id in index.session_ids:
            if public_session_id(session_id) == public_id:
                record = await sessions.session(session_id)
                ended = record is not None and record.user_id == user_id
                if ended:
                    ended = await sessions.end(session_id)
                await self._forget(sessions, user_id, {session_id})
                return ended
        return False

    async def keep(self, tenant_id: str, user_id: str, public_id: str, at: datetime) -> None:
        """Mark the user's session shown as `public_id` kept by a password change at `at`."""
        sessions = SessionRepository(tenant_id)
        for session_id in (await sessions.index(user_id)).session_ids:
            if public_session_id(session_id) == public_id:
                await sessions.used(session_id, {"kept_at": at})
                return

    async def end_all(self, tenant_id: str, user_id: str, *, keep: str | None = None) -> int:
        """End every session of the user but the one shown as `keep`; how many ended."""
        sessions = SessionRepository(tenant_id)
        async with self._locks.held(self._turn(tenant_id, user_id)):
            index = await sessions.index(user_id)
            kept: list[str] = []
            ended = 0
            for session_id in index.session_ids:
                if keep is not None and public_session_id(session_id) == keep:
                    kept.append(session_id)
                elif await sessions.end(session_id):
                    ended += 1
            index.session_ids = kept
            await sessions.write_index(index)
        return ended
