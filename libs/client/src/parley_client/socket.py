"""`ParleySocket`: the gateway's Socket.IO stream of events, plus `typing` and `sync`."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import socketio

from parley_client.errors import SocketRefused
from parley_contracts.resources import Message

EVENT_TYPES = (
    "message.created",
    "message.updated",
    "message.deleted",
    "reaction.updated",
    "message.pinned",
    "message.unpinned",
    "read.updated",
    "conversation.created",
    "conversation.updated",
    "member.added",
    "member.removed",
    "mention.created",  # data: a notification, on every socket of its recipient
    "typing",
    "presence",
    # The socket's own notices: its token expires soon (answer with `reauthenticate`), it
    # expired (the socket is closed next), client events beyond the user's rate.
    "reauth_required",
    "session_expired",
    "rate_limited",
)


@dataclass(frozen=True)
class SocketEvent:
    """`{event_id, type, tenant_id, occurred_at, data}` as the gateway emits it."""

    event_id: str
    type: str
    tenant_id: str
    occurred_at: datetime
    data: dict[str, Any]

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> "SocketEvent":
        return cls(
            event_id=str(payload["event_id"]),
            type=str(payload["type"]),
            tenant_id=str(payload["tenant_id"]),
            occurred_at=datetime.fromisoformat(str(payload["occurred_at"]).replace("Z", "+00:00")),
            data=dict(payload.get("data") or {}),
        )

    def message(self) -> Message:
        return Message.model_validate(self.data)


Handler = Callable[[SocketEvent], Awaitable[None] | None]


class ParleySocket:
    """Every event received is kept in `events` (in arrival order, duplicates by `event_id`
    dropped: delivery is at-least-once) and passed to the handlers registered with `on`."""

    def __init__(self, base_url: str, access_token: str) -> None:
        self.base_url = base_url
        self._token = access_token
        self._client = socketio.AsyncClient(reconnection=False)
        self._handlers: dict[str, list[Handler]] = {}
        self._seen: set[str] = set()
        self._arrived = asyncio.Condition()
        self.events: list[SocketEvent] = []
        for kind in EVENT_TYPES:
            self._client.on(kind, self._receiver(kind))

    def _receiver(self, kind: str) -> Callable[[Any], Awaitable[None]]:
        async def receive(payload: Any) -> None:
            if not isinstance(payload, dict):
                return
            event = SocketEvent.parse(payload)
            if event.event_id in self._seen:
                return
            self._seen.add(event.event_id)
            self.events.append(event)
            for handler in self._handlers.get(kind, []) + self._handlers.get("*", []):
                result = handler(event)
                if result is not None:
                    await result
            async with self._arrived:
                self._arrived.notify_all()

        return receive

    def on(self, event_type: str, handler: Handler) -> None:
        """Call `handler` for each event of `event_type` (`"*"` for all)."""
        self._handlers.setdefault(event_type, []).append(handler)

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    async def connect(self, timeout: float = 10.0) -> None:
        try:
            await self._client.connect(
                self.base_url,
                auth={"token": self._token},
                socketio_path="socket.io",
                transports=["websocket"],
                wait_timeout=timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise SocketRefused(str(exc)) from exc

    async def disconnect(self) -> None:
        await self._client.disconnect()

    async def __aenter__(self) -> "ParleySocket":
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.disconnect()

    async def typing(self, conversation_id: str) -> dict[str, Any]:
        ack: dict[str, Any] = await self._client.call(
            "typing", {"conversation_id": conversation_id}, timeout=10
        )
        return ack

    async def reauthenticate(self, access_token: str) -> dict[str, Any]:
        """Extend the socket's life with a fresh access token of the same user (the answer to
        `reauth_required`); the ack is `{ok: true, expires_at}`."""
        ack: dict[str, Any] = await self._client.call("reauth", {"token": access_token}, timeout=10)
        if not ack.get("ok"):
            raise SocketRefused(f"reauth refused: {ack.get('error')}")
        self._token = access_token
        return ack

    async def sync(self, conversation_id: str, after_seq: int) -> list[Message]:
        """Every message after `after_seq`, oldest first (pages through the gateway's acks)."""
        messages: list[Message] = []
        after = after_seq
        while True:
            ack = await self._client.call(
                "sync", {"conversation_id": conversation_id, "after_seq": after}, timeout=15
            )
            if "error" in ack:
                raise SocketRefused(f"sync refused: {ack['error']}")
            page = [Message.model_validate(item) for item in ack.get("items", [])]
            messages += page
            if not ack.get("has_more") or not page:
                return messages
            after = page[-1].seq

    def of_type(self, event_type: str) -> list[SocketEvent]:
        return [event for event in self.events if event.type == event_type]

    async def wait_for(
        self, predicate: Callable[[SocketEvent], bool], timeout: float = 15.0
    ) -> SocketEvent:
        """The first received event matching `predicate` (waiting for it if needed)."""
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._arrived.wait()
