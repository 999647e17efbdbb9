"""What a socket receives: `{event_id, type, tenant_id, occurred_at, data}` (API.md Real-time)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from parley_contracts.events import EventEnvelope

# Fields messaging adds to events for consumers (routing hints), not part of the resource.
_ROUTING_FIELDS = ("affected_user_ids",)


def socket_payload(envelope: EventEnvelope) -> dict[str, Any]:
    data = {k: v for k, v in envelope.data.items() if k not in _ROUTING_FIELDS}
    return {
        "event_id": envelope.event_id,
        "type": envelope.type.value,
        "tenant_id": envelope.tenant_id,
        "occurred_at": _timestamp(envelope.occurred_at),
        "data": data,
    }


def ephemeral_payload(kind: str, tenant_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """`typing` and `presence`: never stored, never on Kafka."""
    return {
        "event_id": uuid.uuid4().hex,
        "type": kind,
        "tenant_id": tenant_id,
        "occurred_at": _timestamp(datetime.now(UTC)),
        "data": data,
    }


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
