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
        "occurred_at": timestamp(envelope.occurred_at),
        "data": data,
    }


def ephemeral_payload(kind: str, tenant_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """`typing`, `presence` and the socket's own notices (`reauth_required`, `session_expired`,
    `rate_limited`): never stored, never on Kafka."""
    return {
        "event_id": uuid.uuid4().hex,
        "type": kind,
        "tenant_id": tenant_id,
        "occurred_at": timestamp(datetime.now(UTC)),
        "data": data,
    }


def timestamp(moment: datetime | float) -> str:
    """RFC 3339 UTC with milliseconds; a float is seconds since the epoch (a JWT `exp`)."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
