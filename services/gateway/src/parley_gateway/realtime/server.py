"""The Socket.IO side of the gateway: authenticate at connect, join rooms, `typing`, `sync`,
presence. Events from Kafka are emitted by `relay.py`; this module handles what clients send.

Rooms are joined only by the server: on connect (every conversation the user is a member of,
asked from messaging) and by the relay on `member.added` / `conversation.created`. A client
cannot name a room, so it cannot listen to a conversation it is not a member of.
"""

import asyncio
import contextlib
import json
import re
from typing import Any
from urllib.parse import parse_qs

import socketio

from parley_contracts.claims import AccessClaims
from parley_gateway.edge import Edge
from parley_gateway.realtime.connections import ConnectionRegistry
from parley_gateway.realtime.envelopes import ephemeral_payload
from parley_gateway.realtime.rooms import conversation_room, is_conversation_room, user_room
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.identity import ForwardedIdentity
from parley_kit.logs import get_logger
from parley_kit.problems import ProblemError, Unauthorized
from parley_kit.tokens import bearer_token

log = get_logger(__name__)

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RealtimeServer:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        edge: Edge,
        forwarded: ForwardedIdentity,
        upstreams: Upstreams,
        connections: ConnectionRegistry,
        *,
        typing_interval: float,
        heartbeat_seconds: float,
        sync_limit: int,
    ) -> None:
        self.sio = sio
        self._edge = edge
        self._forwarded = forwarded
        self._upstreams = upstreams
        self._connections = connections
        self._typing_interval = typing_interval
        self._heartbeat_seconds = heartbeat_seconds
        self._sync_limit = sync_limit
        self._local: dict[str, AccessClaims] = {}  # this replica's sockets
        self._heartbeat: asyncio.Task[None] | None = None
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("typing", self.typing)
        sio.on("sync", self.sync)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for sid in list(self._local):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            await self._connections.heartbeat(
                [(claims.tid, claims.sub, sid) for sid, claims in list(self._local.items())]
            )

    # --- handlers ---------------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        claims = await self._authenticate(environ, auth)
        opened = await self._connections.open(claims.tid, claims.sub, sid)
        if not opened.accepted:
            raise socketio.exceptions.ConnectionRefusedError(
                {"status": 429, "detail": "too many open sockets for this user"}
            )
        try:
            conversation_ids = await self._conversation_ids(claims)
        except ProblemError as exc:
            await self._connections.close(claims.tid, claims.sub, sid)
            raise socketio.exceptions.ConnectionRefusedError(
                {"status": exc.status, "detail": exc.detail}
            ) from exc
        self._local[sid] = claims
        await self.sio.enter_room(sid, user_room(claims.tid, claims.sub))
        rooms = [conversation_room(claims.tid, cid) for cid in conversation_ids]
        for room in rooms:
            await self.sio.enter_room(sid, room)
        log.info("socket connected", user_id=claims.sub, rooms=len(rooms))
        if opened.first and rooms:
            await self._presence(claims, "online", rooms, skip_sid=sid)

    async def disconnect(self, sid: str, *_: Any) -> None:
        claims = self._local.pop(sid, None)
        if claims is None:
            return
        rooms = [room for room in self.sio.rooms(sid) if is_conversation_room(room)]
        if await self._connections.close(claims.tid, claims.sub, sid) and rooms:
            await self._presence(claims, "offline", rooms, skip_sid=sid)

    async def typing(self, sid: str, data: Any) -> dict[str, Any]:
        claims = self._local.get(sid)
        conversation_id = data.get("conversation_id") if isinstance(data, dict) else None
        if claims is None or not isinstance(conversation_id, str):
            return {"ok": False, "error": "conversation_id is required"}
        room = conversation_room(claims.tid, conversation_id)
        if room not in self.sio.rooms(sid):
            return {"ok": False, "error": "not found"}  # same answer as an unknown conversation
        if await self._connections.typing_allowed(
            claims.tid, claims.sub, conversation_id, self._typing_interval
        ):
            payload = ephemeral_payload(
                "typing", claims.tid, {"conversation_id": conversation_id, "user_id": claims.sub}
            )
            await self.sio.emit("typing", payload, room=room, skip_sid=sid)
        return {"ok": True}

    async def sync(self, sid: str, data: Any) -> dict[str, Any]:
        """The messages after `after_seq`, oldest first: how a reconnecting client fills a gap."""
        claims = self._local.get(sid)
        if claims is None:
            return _problem(401, "not connected")
        if not isinstance(data, dict):
            return _problem(422, "expected {conversation_id, after_seq}")
        conversation_id, after_seq = data.get("conversation_id"), data.get("after_seq", 0)
        limit = data.get("limit", self._sync_limit)
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
                headers=self._upstreams.internal_headers(self._forwarded.sign(claims)),
                params=[("after_seq", str(after_seq)), ("limit", str(limit))],
            )
        except ProblemError as exc:
            return _problem(exc.status, exc.detail or exc.title)
        if response.status_code != 200:
            body = _json(response.content)
            return {"error": body or {"status": response.status_code}}
        page = _json(response.content) or {}
        items = page.get("items", [])
        return {"items": items, "has_more": page.get("next_cursor") is not None}

    # --- helpers ----------------------------------------------------------------------------

    async def _authenticate(self, environ: dict[str, Any], auth: Any) -> AccessClaims:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        if not token:
            query = parse_qs(environ.get("QUERY_STRING", ""))
            token = (query.get("token") or [None])[0]
        if not token:
            raise socketio.exceptions.ConnectionRefusedError(
                {"status": 401, "detail": "missing access token (auth: {token})"}
            )
        try:
            return await self._edge.verify(token)
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                {"status": 401, "detail": exc.detail}
            ) from exc
        except ProblemError as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                {"status": exc.status, "detail": exc.detail}
            ) from exc

    async def _conversation_ids(self, claims: AccessClaims) -> list[str]:
        response = await self._upstreams.send(
            Service.MESSAGING,
            "GET",
            f"/internal/v1/tenants/{claims.tid}/users/{claims.sub}/conversations",
            headers=self._upstreams.internal_headers(),
        )
        if response.status_code != 200:
            raise ProblemError("could not list the user's conversations", status=503)
        body = _json(response.content) or {}
        ids = body.get("conversation_ids", [])
        return [cid for cid in ids if isinstance(cid, str)]

    async def _presence(
        self, claims: AccessClaims, status: str, rooms: list[str], *, skip_sid: str
    ) -> None:
        payload = ephemeral_payload(
            "presence", claims.tid, {"user_id": claims.sub, "status": status}
        )
        await self.sio.emit("presence", payload, room=rooms, skip_sid=skip_sid)


def _problem(status: int, detail: str) -> dict[str, Any]:
    return {"error": {"status": status, "detail": detail}}


def _json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None
