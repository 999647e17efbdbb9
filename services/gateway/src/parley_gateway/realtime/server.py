"""The Socket.IO side of the gateway: authenticate at connect, join rooms, `typing`, `sync`,
`reauth`, presence. Events from Kafka are emitted by `relay.py`; this module handles what
clients send.

Rooms are joined only by the server: on connect (every conversation the user is a member of,
asked from messaging) and by the relay on `member.added` / `conversation.created`. A client
cannot name a room, so it cannot listen to a conversation it is not a member of.

A socket lives no longer than its access token: `reauth_lead_seconds` before the token
expires the socket receives `reauth_required`, and a `reauth {token}` with a fresh token of
the same user extends it; at expiry without one it receives `session_expired` and is
disconnected. Every client event counts against a per-user token bucket (one Redis script,
shared by every replica); an event over the limit is answered with a 429 error ack (and one
`rate_limited` notice per window) and does no work.

Registrations survive a Redis restart: every replica re-asserts its sockets on a heartbeat,
notices a lost registry within about a second (a marker key of its own) and then re-reads
its sockets' rooms, so a socket is put into conversations it joined meanwhile. The heartbeat
also sweeps the sockets of dead replicas and announces their users `offline`.

A deactivated user's sockets are closed by the relay as soon as `user.deactivated` arrives.
The heartbeat closes what that misses (a socket registered while the relay read the user's
sockets, or an event Kafka has not delivered yet): a socket whose token is below its user's
current authorization version is checked with auth, and closed (`session_expired`) if the
account is deactivated. A token outdated by a role change keeps its socket until it expires.
"""

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import socketio
from prometheus_client import Counter

from parley_contracts.claims import AccessClaims
from parley_gateway.edge import Edge
from parley_gateway.ratelimit import BucketPolicy, RateLimiter
from parley_gateway.realtime.connections import ConnectionRegistry, SocketRef
from parley_gateway.realtime.envelopes import ephemeral_payload, timestamp
from parley_gateway.realtime.rooms import conversation_room, is_conversation_room, user_room
from parley_gateway.settings import GatewaySettings
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.identity import ForwardedIdentity
from parley_kit.logs import get_logger
from parley_kit.problems import ProblemError

log = get_logger(__name__)

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CLIENT_EVENTS = ("typing", "sync", "reauth")
# Query parameters that would carry a token: refused, since URLs end up in logs and proxies.
TOKEN_PARAMETERS = frozenset({"token", "access_token", "auth", "jwt", "authorization"})
# Sockets whose rooms are re-read from messaging at once after Redis lost the registry.
RESYNC_CONCURRENCY = 8

EVENTS_LIMITED = Counter(
    "parley_gateway_socket_events_limited_total",
    "client socket events refused by the per-user rate limit",
    ["event"],
)
SOCKETS_EXPIRED = Counter(
    "parley_gateway_sockets_expired_total", "sockets disconnected when their token expired"
)
REGISTRY_RECOVERIES = Counter(
    "parley_gateway_socket_registry_recoveries_total",
    "times a replica re-asserted its sockets and re-read their rooms after Redis lost them",
)
SOCKETS_OF_DEACTIVATED = Counter(
    "parley_gateway_deactivated_sockets_swept_total",
    "sockets the heartbeat closed because their user was deactivated (the relay missed them)",
)
PRESENCE_SWEPT = Counter(
    "parley_gateway_presence_swept_total", "users announced offline after their replica died"
)


@dataclass(frozen=True)
class SocketPolicy:
    typing_interval: float
    sync_limit: int
    events: BucketPolicy  # client events per user, every event and replica together
    reauth_lead_seconds: float  # `reauth_required` this long before the token expires
    heartbeat_seconds: float  # re-assert registrations and sweep dead replicas' sockets
    registry_check_seconds: float  # look for a registry Redis lost

    @classmethod
    def of(cls, settings: GatewaySettings) -> "SocketPolicy":
        return cls(
            typing_interval=settings.typing_interval_seconds,
            sync_limit=settings.sync_limit,
            events=BucketPolicy(settings.socket_events_per_second, settings.socket_event_burst),
            reauth_lead_seconds=settings.socket_reauth_lead_seconds,
            heartbeat_seconds=settings.presence_ttl_seconds / 3,
            registry_check_seconds=settings.socket_registry_check_seconds,
        )


@dataclass
class _Session:
    """One socket of this replica: whose it is (until a `reauth` replaces the claims)."""

    claims: AccessClaims
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    quiet_until: float = 0.0  # a `rate_limited` notice was sent; no other before this


class RealtimeServer:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        edge: Edge,
        forwarded: ForwardedIdentity,
        upstreams: Upstreams,
        connections: ConnectionRegistry,
        limiter: RateLimiter,
        policy: SocketPolicy,
    ) -> None:
        self.sio = sio
        self._edge = edge
        self._forwarded = forwarded
        self._upstreams = upstreams
        self._connections = connections
        self._limiter = limiter
        self._policy = policy
        self._sessions: dict[str, _Session] = {}  # this replica's sockets
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._resync_pending = False
        # Users whose outdated tokens auth confirmed active, at which version: not asked again.
        self._confirmed_active: dict[tuple[str, str], int] = {}
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("typing", self.typing)
        sio.on("sync", self.sync)
        sio.on("reauth", self.reauth)
        sio.on("*", self.unknown)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._every(self._policy.heartbeat_seconds, self._beat)),
            asyncio.create_task(
                self._every(self._policy.registry_check_seconds, self._check_registry)
            ),
        ]

    async def ask_to_reconnect(self) -> None:
        """Close this replica's socket transports, without a Socket.IO disconnect (which tells
        a client not to come back): each client sees its transport close and reconnects, to
        another replica while this one drains (it refuses connections), and `sync`s."""
        for sid in list(self._sessions):
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            if eio_sid is not None:
                with contextlib.suppress(Exception):
                    await self.sio.eio.disconnect(eio_sid)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for sid in list(self._sessions):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._connections.forget_replica()

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception as exc:  # the loop outlives any one failure
                log.warning("socket maintenance failed", work=work.__name__, error=str(exc))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _beat(self) -> None:
        await self._reassert()
        for tenant_id, user_id in await self._connections.sweep():
            PRESENCE_SWEPT.inc()
            await self._announce_offline(tenant_id, user_id)
        await self._close_deactivated()

    async def _close_deactivated(self) -> None:
        authz = self._edge.authz
        held = [session.claims for session in self._sessions.values()]
        outdated = {(c.tid, c.sub): (c, version) for c, version in await authz.outdated(held)}
        for user, (claims, version) in outdated.items():
            if self._confirmed_active.get(user) == version:
                continue
            if not await authz.deactivated(claims):
                self._confirmed_active[user] = version
                continue
            for sid, session in list(self._sessions.items()):
                if (session.claims.tid, session.claims.sub) == user:
                    SOCKETS_OF_DEACTIVATED.inc()
                    await self._end(sid, session.claims, "the account is deactivated")
        self._confirmed_active = {u: v for u, v in self._confirmed_active.items() if u in outdated}

    async def _check_registry(self) -> None:
        if await self._connections.registrations_lost() or self._resync_pending:
            REGISTRY_RECOVERIES.inc()
            log.info("socket registry lost; re-asserting sockets", sockets=len(self._sessions))
            await self._reassert()
            await self._resync_rooms()

    async def _reassert(self) -> None:
        # A socket the Socket.IO server already forgot (its client left mid-connect) goes too.
        for sid in [sid for sid in self._sessions if not self.sio.manager.is_connected(sid, "/")]:
            await self.disconnect(sid)
        snapshot: list[SocketRef] = [
            (session.claims.tid, session.claims.sub, sid) for sid, session in self._sessions.items()
        ]
        back_online = await self._connections.heartbeat(snapshot)
        # A socket that closed while the heartbeat was on its way was just added back: again.
        for tenant_id, user_id, sid in snapshot:
            if sid not in self._sessions:
                await self._connections.close(tenant_id, user_id, sid)
        for tenant_id, user_id in back_online:
            rooms = {
                room
                for sid, session in list(self._sessions.items())
                if (session.claims.tid, session.claims.sub) == (tenant_id, user_id)
                for room in self.sio.rooms(sid)
                if is_conversation_room(room)
            }
            if rooms:
                await self._presence(tenant_id, user_id, "online", sorted(rooms))

    async def _resync_rooms(self) -> None:
        """Put every socket of this replica into exactly its conversations' rooms (the relay
        could not find them while their registrations were missing)."""
        self._resync_pending = False
        gate = asyncio.Semaphore(RESYNC_CONCURRENCY)

        async def resync(sid: str, claims: AccessClaims) -> None:
            async with gate:
                try:
                    ids = await self._conversation_ids(claims.tid, claims.sub)
                except ProblemError as exc:
                    self._resync_pending = True  # tried again at the next check
                    log.warning("rooms of a socket not re-read", error=exc.detail)
                    return
                if sid not in self._sessions:
                    return
                wanted = {conversation_room(claims.tid, cid) for cid in ids}
                held = {room for room in self.sio.rooms(sid) if is_conversation_room(room)}
                for room in wanted - held:
                    await self.sio.enter_room(sid, room)
                for room in held - wanted:
                    await self.sio.leave_room(sid, room)

        await asyncio.gather(
            *(resync(sid, session.claims) for sid, session in list(self._sessions.items()))
        )

    # --- handlers ---------------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        claims = await self._authenticate(environ, auth)
        opened = await self._connections.open(claims.tid, claims.sub, sid)
        if not opened.accepted:
            raise _refused(429, "too many open sockets for this user")
        try:
            conversation_ids = await self._conversation_ids(claims.tid, claims.sub)
        except ProblemError as exc:
            await self._connections.close(claims.tid, claims.sub, sid)
            raise _refused(exc.status, exc.detail or exc.title) from exc
        session = _Session(claims)
        self._sessions[sid] = session
        await self.sio.enter_room(sid, user_room(claims.tid, claims.sub))
        rooms = [conversation_room(claims.tid, cid) for cid in conversation_ids]
        for room in rooms:
            await self.sio.enter_room(sid, room)
        self._watch_expiry(sid, session)
        log.info("socket connected", user_id=claims.sub, rooms=len(rooms))
        if opened.first and rooms:
            await self._presence(claims.tid, claims.sub, "online", rooms, skip_sid=sid)

    async def disconnect(self, sid: str, *_: Any) -> None:
        session = self._sessions.pop(sid, None)
        if session is None:
            return
        for timer in session.timers:
            timer.cancel()
        claims = session.claims
        rooms = [room for room in self.sio.rooms(sid) if is_conversation_room(room)]
        if await self._connections.close(claims.tid, claims.sub, sid) and rooms:
            await self._presence(claims.tid, claims.sub, "offline", rooms, skip_sid=sid)

    async def typing(self, sid: str, data: Any) -> dict[str, Any]:
        session = await self._admit(sid, "typing")
        if not isinstance(session, _Session):
            return session
        claims = session.claims
        conversation_id = data.get("conversation_id") if isinstance(data, dict) else None
        if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
            return _problem(422, "conversation_id is required")
        room = conversation_room(claims.tid, conversation_id)
        if room not in self.sio.rooms(sid):
            return _problem(404, "conversation not found")  # as for an unknown conversation
        if await self._connections.typing_allowed(
            claims.tid, claims.sub, conversation_id, self._policy.typing_interval
        ):
            payload = ephemeral_payload(
                "typing", claims.tid, {"conversation_id": conversation_id, "user_id": claims.sub}
            )
            await self.sio.emit("typing", payload, room=room, skip_sid=sid)
        return {"ok": True}

    async def sync(self, sid: str, data: Any) -> dict[str, Any]:
        """The messages after `after_seq`, oldest first: how a reconnecting client fills a gap."""
        session = await self._admit(sid, "sync")
        if not isinstance(session, _Session):
            return session
        if not isinstance(data, dict):
            return _problem(422, "expected {conversation_id, after_seq}")
        conversation_id, after_seq = data.get("conversation_id"), data.get("after_seq", 0)
        limit = data.get("limit", self._policy.sync_limit)
        if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
            return _problem(422, "conversation_id is required")
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            return _problem(422, "after_seq must be a non-negative integer")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            return _problem(422, "limit must be between 1 and 100")
        try:
            response = await self._upstreams.send(
                Service.MESSAGING,
                "GET",
                f"/v1/conversations/{conversation_id}/messages",
                headers=self._upstreams.internal_headers(self._forwarded.sign(session.claims)),
                params=[("after_seq", str(after_seq)), ("limit", str(limit))],
            )
        except ProblemError as exc:
            return _problem(exc.status, exc.detail or exc.title)
        if response.status_code != 200:
            body = _json(response.content)
            return {"ok": False, "error": body or {"status": response.status_code}}
        page = _json(response.content) or {}
        items = page.get("items", [])
        return {"items": items, "has_more": page.get("next_cursor") is not None}

    async def reauth(self, sid: str, data: Any) -> dict[str, Any]:
        """`{token}`: a fresh access token of the same user extends the socket's life."""
        session = await self._admit(sid, "reauth")
        if not isinstance(session, _Session):
            return session
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            return _problem(422, "expected {token}")
        try:
            claims = await self._edge.verify(token)
        except ProblemError as exc:
            return _problem(exc.status, exc.detail or exc.title)
        if self._sessions.get(sid) is not session:
            return _problem(401, "not connected")
        if (claims.tid, claims.sub) != (session.claims.tid, session.claims.sub):
            return _problem(403, "the token is another user's; a socket keeps its user")
        if claims.exp <= time.time():
            return _problem(401, "the access token has expired")
        session.claims = claims
        self._watch_expiry(sid, session)
        return {"ok": True, "expires_at": timestamp(claims.exp)}

    async def unknown(self, event: str, sid: str, *_: Any) -> dict[str, Any]:
        session = await self._admit(sid, "other")
        if not isinstance(session, _Session):
            return session
        return _problem(400, f"unknown event {event[:64]!r}; expected one of {list(CLIENT_EVENTS)}")

    # --- limits -----------------------------------------------------------------------------

    async def _admit(self, sid: str, event: str) -> _Session | dict[str, Any]:
        """The socket's session when the user is within their event rate, else the error ack."""
        session = self._sessions.get(sid)
        if session is None:
            return _problem(401, "not connected")
        claims = session.claims
        decision = await self._limiter.take(f"sock:{claims.tid}:{claims.sub}", self._policy.events)
        if decision.allowed:
            return session
        EVENTS_LIMITED.labels(event).inc()
        detail = f"too many socket events; retry after {decision.retry_after} s"
        now = time.monotonic()
        if now >= session.quiet_until:  # one notice per window, not one per refused event
            session.quiet_until = now + decision.retry_after
            notice = {"event": event, "status": 429, "detail": detail}
            await self.sio.emit(
                "rate_limited",
                ephemeral_payload(
                    "rate_limited", claims.tid, notice | {"retry_after": decision.retry_after}
                ),
                to=sid,
            )
        return _problem(429, detail, retry_after=decision.retry_after)

    def _watch_expiry(self, sid: str, session: _Session) -> None:
        """Ask for a fresh token `reauth_lead_seconds` before this one expires; end the socket
        when it does."""
        for timer in session.timers:
            timer.cancel()
        loop = asyncio.get_running_loop()
        claims = session.claims
        left = claims.exp - time.time()
        session.timers = [
            loop.call_later(max(0.0, left), lambda: self._spawn(self._expire(sid, claims)))
        ]
        if self._policy.reauth_lead_seconds > 0:
            ask_in = max(0.0, left - self._policy.reauth_lead_seconds)
            session.timers.append(
                loop.call_later(ask_in, lambda: self._spawn(self._ask_reauth(sid, claims)))
            )

    def _current(self, sid: str, claims: AccessClaims) -> bool:
        session = self._sessions.get(sid)
        return session is not None and session.claims is claims

    async def _ask_reauth(self, sid: str, claims: AccessClaims) -> None:
        if self._current(sid, claims):
            payload = ephemeral_payload(
                "reauth_required", claims.tid, {"expires_at": timestamp(claims.exp)}
            )
            await self.sio.emit("reauth_required", payload, to=sid)

    async def _end(self, sid: str, claims: AccessClaims, detail: str) -> None:
        """Tell the socket why (`session_expired`, status 401), then disconnect it."""
        payload = ephemeral_payload(
            "session_expired", claims.tid, {"status": 401, "detail": detail}
        )
        await self.sio.emit("session_expired", payload, to=sid)
        await self.sio.disconnect(sid)

    async def _expire(self, sid: str, claims: AccessClaims) -> None:
        if not self._current(sid, claims):
            return
        SOCKETS_EXPIRED.inc()
        payload = ephemeral_payload(
            "session_expired",
            claims.tid,
            {
                "status": 401,
                "detail": "the access token expired; connect again with a fresh one",
            },
        )
        await self.sio.emit("session_expired", payload, to=sid)
        await self.sio.disconnect(sid)

    # --- helpers ----------------------------------------------------------------------------

    async def _authenticate(self, environ: dict[str, Any], auth: Any) -> AccessClaims:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if TOKEN_PARAMETERS & {name.lower() for name in query}:
            raise _refused(
                400,
                "a token in the query string is refused (URLs are logged); send it as"
                " auth: {token}",
            )
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise _refused(401, "missing access token (auth: {token})")
        try:
            return await self._edge.verify(token)
        except ProblemError as exc:  # 401 for a bad token, 503 without the keys to check it
            raise _refused(exc.status, exc.detail or exc.title) from exc

    async def _conversation_ids(self, tenant_id: str, user_id: str) -> list[str]:
        response = await self._upstreams.send(
            Service.MESSAGING,
            "GET",
            f"/internal/v1/tenants/{tenant_id}/users/{user_id}/conversations",
            headers=self._upstreams.internal_headers(),
        )
        if response.status_code != 200:
            raise ProblemError("could not list the user's conversations", status=503)
        body = _json(response.content) or {}
        ids = body.get("conversation_ids", [])
        return [cid for cid in ids if isinstance(cid, str)]

    async def _announce_offline(self, tenant_id: str, user_id: str) -> None:
        try:
            ids = await self._conversation_ids(tenant_id, user_id)
        except ProblemError as exc:
            log.warning("offline presence not announced", user_id=user_id, error=exc.detail)
            return
        rooms = [conversation_room(tenant_id, cid) for cid in ids]
        if rooms:
            await self._presence(tenant_id, user_id, "offline", rooms)

    async def _presence(
        self,
        tenant_id: str,
        user_id: str,
        status: str,
        rooms: list[str],
        *,
        skip_sid: str | None = None,
    ) -> None:
        payload = ephemeral_payload("presence", tenant_id, {"user_id": user_id, "status": status})
        await self.sio.emit("presence", payload, room=rooms, skip_sid=skip_sid)


def _refused(status: int, detail: str) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connect: the client's `connect_error` gets `{message: detail, data: {status,
    detail}}` (as Socket.IO clients read `err.message` and `err.data`)."""
    return socketio.exceptions.ConnectionRefusedError(detail, {"status": status, "detail": detail})


def _problem(status: int, detail: str, *, retry_after: int | None = None) -> dict[str, Any]:
    """An error ack: `{ok: false, error: {status, detail, retry_after?}}`."""
    error: dict[str, Any] = {"status": status, "detail": detail}
    if retry_after is not None:
        error["retry_after"] = retry_after
    return {"ok": False, "error": error}


def _json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None
