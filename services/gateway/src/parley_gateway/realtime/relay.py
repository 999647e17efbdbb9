"""Kafka → Socket.IO: a FastStream subscriber in one consumer group shared by every gateway
replica, so each event is consumed (and emitted) once; the Socket.IO Redis manager fans the
emit out to the replicas that hold the room's sockets.

Events of one conversation share a partition and this subscriber handles them one at a time,
so a room sees them in `seq` order. Delivery is at-least-once: after a crash the replica that
takes the partition over may emit a few events again, which clients drop by `event_id`.

Membership changes move sockets between rooms before the event is emitted: the relay looks up
the affected users' live sockets (any replica) and joins or leaves them through the manager.
A notification (`mention.created`, keyed by its recipient) goes to the recipient's own room,
which every socket of theirs joins when it connects. A `user.deactivated` disconnects every
socket of that user the same way as rooms are joined (the manager passes a disconnect to the
replica holding the socket); their tokens are already outdated, so a reconnect is refused.
"""

import asyncio
from typing import Any

import socketio
from aiokafka.abc import ConsumerRebalanceListener
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from opentelemetry import trace
from prometheus_client import Counter
from pydantic import ValidationError

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import EventType
from parley_gateway.realtime.connections import ConnectionRegistry
from parley_gateway.realtime.envelopes import socket_payload
from parley_gateway.realtime.rooms import conversation_room, user_room
from parley_kit.kafka import KafkaConnection, start_consuming
from parley_kit.logs import get_logger

log = get_logger(__name__)

RELAYED = Counter(
    "parley_gateway_relayed_events_total", "Kafka events emitted to sockets", ["type"]
)
UNREADABLE = Counter("parley_gateway_unreadable_events_total", "Kafka events the relay skipped")
DROPPED = Counter(
    "parley_gateway_deactivated_sockets_total",
    "sockets disconnected because their user was deactivated",
)

ROOM_EVENTS = {
    EventType.MESSAGE_CREATED,
    EventType.MESSAGE_UPDATED,
    EventType.MESSAGE_DELETED,
    EventType.REACTION_UPDATED,
    EventType.MESSAGE_PINNED,
    EventType.MESSAGE_UNPINNED,
    EventType.READ_UPDATED,
    EventType.CONVERSATION_UPDATED,
}


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """Marks the moment the relay owns partitions (the e2e suite waits for it via /readyz)."""

    def __init__(self, ready: asyncio.Event) -> None:
        self._ready = ready

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._ready.set()


async def _raw(message: KafkaMessage) -> Any:
    return message.body


class EventRelay:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        connections: ConnectionRegistry,
        broker: KafkaBroker,
        *,
        kafka: KafkaConnection,
        topics: list[str],
        group_id: str,
        tracer: trace.Tracer | None = None,  # a span per emit, under the record's consumer span
    ) -> None:
        self._sio = sio
        self._tracer = tracer or trace.NoOpTracer()
        self._connections = connections
        self._broker = broker
        self._kafka = kafka
        self._topics = topics
        self.assigned = asyncio.Event()
        subscriber = broker.subscriber(
            *topics,
            group_id=group_id,
            auto_offset_reset="latest",
            decoder=_raw,
            listener=_Assigned(self.assigned),
        )
        subscriber(self.handle)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await start_consuming(self._broker, self._kafka, self._topics, name="event relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(self._broker.stop(), return_exceptions=True)

    async def handle(self, body: bytes) -> None:
        try:
            envelope = EventEnvelope.model_validate_json(body)
        except (ValidationError, ValueError) as exc:
            UNREADABLE.inc()
            log.warning("unreadable event skipped by the relay", error=str(exc)[:500])
            return
        await self.relay(envelope)

    async def relay(self, envelope: EventEnvelope) -> None:
        tenant = envelope.tenant_id
        room = conversation_room(tenant, envelope.key)
        if envelope.type in ROOM_EVENTS:
            targets: list[str] = [room]
        elif envelope.type is EventType.CONVERSATION_CREATED:
            members = _member_ids(envelope)
            await self._join(tenant, members, room)
            targets = [room, *(user_room(tenant, uid) for uid in members)]
        elif envelope.type is EventType.MEMBER_ADDED:
            affected = _affected(envelope)
            await self._join(tenant, affected, room)
            targets = [room, *(user_room(tenant, uid) for uid in affected)]
        elif envelope.type is EventType.MEMBER_REMOVED:
            affected = _affected(envelope)
            # The removed user hears of it once more, then leaves the room.
            targets = [room, *(user_room(tenant, uid) for uid in affected)]
            await self._emit(envelope, targets)
            await self._leave(tenant, affected, room)
            return
        elif envelope.type is EventType.MENTION_CREATED:
            # Keyed by its recipient: every socket of theirs, whatever room it is in.
            targets = [user_room(tenant, envelope.key)]
        elif envelope.type is EventType.USER_DEACTIVATED:
            user_id = envelope.data.get("id")
            if isinstance(user_id, str):
                await self._disconnect(tenant, user_id)
            return
        else:
            return  # other user and tenant events are not for sockets
        await self._emit(envelope, targets)

    async def _emit(self, envelope: EventEnvelope, targets: list[str]) -> None:
        with self._tracer.start_as_current_span(
            "socket.io emit",
            attributes={
                "parley.event_type": envelope.type.value,
                "messaging.message.id": envelope.event_id,
                "socketio.rooms": len(targets),
            },
        ):
            await self._sio.emit(envelope.type.value, socket_payload(envelope), room=targets)
        RELAYED.labels(envelope.type.value).inc()

    async def _join(self, tenant: str, user_ids: list[str], room: str) -> None:
        for user_id in user_ids:
            for sid in await self._connections.sockets(tenant, user_id):
                await self._sio.enter_room(sid, room)

    async def _disconnect(self, tenant: str, user_id: str) -> None:
        sockets = await self._connections.sockets(tenant, user_id)
        for sid in sockets:
            await self._sio.disconnect(sid)
        DROPPED.inc(len(sockets))
        log.info("sockets of a deactivated user closed", user_id=user_id, sockets=len(sockets))

    async def _leave(self, tenant: str, user_ids: list[str], room: str) -> None:
        for user_id in user_ids:
            for sid in await self._connections.sockets(tenant, user_id):
                await self._sio.leave_room(sid, room)


def _member_ids(envelope: EventEnvelope) -> list[str]:
    members = envelope.data.get("members") or []
    return [m["user_id"] for m in members if isinstance(m, dict) and "user_id" in m]


def _affected(envelope: EventEnvelope) -> list[str]:
    affected = envelope.data.get("affected_user_ids")
    if isinstance(affected, list):
        return [uid for uid in affected if isinstance(uid, str)]
    return _member_ids(envelope)
