"""Pure pieces of the gateway: the route table, header hygiene, seed and socket shapes."""

from datetime import UTC, datetime

import httpx
from starlette.datastructures import Headers

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import EventType
from parley_gateway.realtime.envelopes import socket_payload
from parley_gateway.realtime.rooms import conversation_room, user_room
from parley_gateway.seed import seed_message, tenant_slug
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.identity import ForwardedIdentity


def upstreams() -> Upstreams:
    return Upstreams(
        httpx.AsyncClient(),
        {s: f"http://{s.value}" for s in Service},
        "secret",
        request_timeout=10,
        search_timeout=5,
    )


def test_forwarded_headers_drop_what_a_client_could_forge() -> None:
    incoming = Headers(
        {
            "authorization": "Bearer token",
            "x-parley-identity": "forged",
            "x-parley-internal-token": "guess",
            "x-forwarded-for": "6.6.6.6",
            "host": "evil",
            "accept": "application/json",
        }
    )
    table = upstreams()
    to_messaging = table.forwarded_headers(
        Service.MESSAGING, incoming, client_ip="10.0.0.1", identity="signed"
    )
    to_auth = table.forwarded_headers(Service.AUTH, incoming, client_ip="10.0.0.1", identity=None)
    assert to_messaging["X-Parley-Identity"] == "signed"
    assert "x-parley-internal-token" not in {k.lower() for k in to_messaging}
    assert "authorization" not in to_messaging
    assert "host" not in to_messaging
    assert to_messaging["x-forwarded-for"] == "10.0.0.1"
    # A public call never carries the internal secret; auth learns the client's address from
    # a signed header instead.
    assert "x-parley-internal-token" not in {k.lower() for k in to_auth}
    assert ForwardedIdentity("secret").verify_client_ip(to_auth["X-Parley-Client-IP"]) == (
        "10.0.0.1"
    )
    assert "x-parley-identity" not in {k.lower() for k in to_auth}


def test_rooms_are_named_per_tenant() -> None:
    assert conversation_room("a", "c") != conversation_room("b", "c")
    assert user_room("a", "u") == "t:a:u:u"


def test_socket_payload_is_the_envelope_without_routing_hints() -> None:
    envelope = EventEnvelope(
        event_id="e1",
        type=EventType.MEMBER_ADDED,
        tenant_id="t1",
        occurred_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        key="c1",
        data={"id": "c1", "members": [], "affected_user_ids": ["u2"]},
    )
    payload = socket_payload(envelope)
    assert payload == {
        "event_id": "e1",
        "type": "member.added",
        "tenant_id": "t1",
        "occurred_at": "2026-11-24T10:00:00.000Z",
        "data": {"id": "c1", "members": []},
    }


def test_seed_shapes() -> None:
    assert tenant_slug(1) == "t1"
    message = {
        "id": "m",
        "conversation_id": "c",
        "sender_id": "u",
        "tenant_id": "t",
        "created_at": "x",
    }
    assert seed_message(message)["conversationId"] == "c"
    assert seed_message(message)["_id"] == "m"
