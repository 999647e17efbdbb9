"""What bounds a socket: its token travels only in `auth`, it lives no longer than its token
(unless re-authenticated), a user opens at most `socket_max_per_user` of them however fast,
and a user's client events are rate limited before any of them reaches messaging."""

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gateway_factories import Account, listen, new_group, new_tenant, new_user, send
from gateway_suite import platform
from prometheus_client import REGISTRY

from parley_client.errors import SocketRefused
from parley_client.socket import ParleySocket
from parley_gateway.realtime.envelopes import timestamp
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


def _refusable() -> tuple[socketio.AsyncClient, list[Any]]:
    """A client that records why the server refused its connect (`connect_error` data)."""
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []

    async def refused(data: Any) -> None:
        reasons.append(data)

    client.on("connect_error", refused)
    return client, reasons


async def _refusal(url: str, **connect: Any) -> Any:
    """Why a connect attempt is refused (fails the test when it is accepted)."""
    client, reasons = _refusable()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(url, transports=["websocket"], wait_timeout=10, **connect)
    finally:
        await client.disconnect()
    assert len(reasons) == 1
    return reasons[0].get("data", reasons[0])


async def test_a_token_outside_the_auth_payload_is_refused(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        token = owner.access_token
        in_query = await _refusal(f"{running.url}?token={token}")
        # Even beside a valid auth payload: the query string has leaked into logs already.
        in_query_too = await _refusal(f"{running.url}?token={token}", auth={"token": token})
        in_header = await _refusal(running.url, headers={"Authorization": f"Bearer {token}"})
        accepted = await listen(running.url, owner)
        await accepted.client.disconnect()
    assert in_query["status"] == 400
    assert "query string" in in_query["detail"]
    assert in_query_too == in_query
    assert in_header == {"status": 401, "detail": "missing access token (auth: {token})"}


async def test_forty_parallel_connects_of_one_user_open_exactly_twenty(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation) as running,  # the default limit: 20 per user
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        clients = [_refusable() for _ in range(40)]

        async def connect(client: socketio.AsyncClient, reasons: list[Any]) -> Any:
            try:
                await client.connect(
                    running.url,
                    auth={"token": owner.access_token},
                    transports=["websocket"],
                    wait_timeout=20,
                )
            except socketio.exceptions.ConnectionError:
                return reasons[0].get("data", reasons[0])
            return "accepted"

        try:
            outcomes = await asyncio.gather(*(connect(*client) for client in clients))
        finally:
            for client, _ in clients:
                await client.disconnect()
        # Closing gives the places back.
        again = await listen(running.url, owner)
        await again.client.disconnect()
    assert outcomes.count("accepted") == 20
    refusal = {"status": 429, "detail": "too many open sockets for this user"}
    assert [o for o in outcomes if o != "accepted"] == [refusal] * 20


def _messaging_reads() -> float:
    """History reads messaging has served in this process (the route `sync` calls)."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "parley_http_requests"
        for sample in metric.samples
        if sample.name == "parley_http_requests_total"
        and sample.labels.get("service") == "messaging"
        and sample.labels.get("method") == "GET"
        and sample.labels.get("route", "").endswith("/messages")
    )


async def test_client_events_beyond_the_user_rate_are_refused_before_messaging(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    burst = 10
    async with (
        # A bucket that hardly refills while the test runs: exactly `burst` events pass.
        platform(
            stack_urls, isolation, socket_event_burst=burst, socket_events_per_second=0.01
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        conversation = await new_group(http, owner, ann)
        await send(http, owner, conversation, "hello")
        first, second, anns = (
            await listen(running.url, owner),
            await listen(running.url, owner),
            await listen(running.url, ann),
        )
        try:
            reads_before = _messaging_reads()
            request = {"conversation_id": conversation, "after_seq": 0}
            acks = await asyncio.gather(
                *(first.client.call("sync", request, timeout=10) for _ in range(40))
            )
            reads = _messaging_reads() - reads_before
            # The same user on another socket, and any other event: the bucket is the user's.
            on_second = await second.client.call("sync", request, timeout=10)
            typing = await second.client.call("typing", {"conversation_id": conversation})
            unknown = await first.client.call("whatever", {}, timeout=10)
            # Another user has a bucket of their own.
            anns_sync = await anns.client.call("sync", request, timeout=10)
            await first.wait_for(lambda name, _: name == "rate_limited")
        finally:
            for listener in (first, second, anns):
                await listener.client.disconnect()

    served = [ack for ack in acks if "items" in ack]
    refused = [ack for ack in acks if "items" not in ack]
    assert len(served) == burst
    assert served[0]["items"][0]["content"] == "hello"
    assert len(refused) == 40 - burst
    assert {ack["error"]["status"] for ack in refused} == {429}
    assert all(ack["ok"] is False and ack["error"]["retry_after"] >= 1 for ack in refused)
    assert reads == burst  # a refused event never reached messaging
    assert [on_second["error"]["status"], typing["error"]["status"]] == [429, 429]
    assert unknown["error"]["status"] == 429
    assert [p["content"] for p in anns_sync["items"]] == ["hello"]
    notices = first.of_type("rate_limited")
    assert len(notices) == 1  # one notice per window, not one per refused event
    assert notices[0]["data"]["status"] == 429
    assert notices[0]["data"]["event"] == "sync"


def _signing_key(path: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path.write_text(pem)
    return pem


async def _short_lived(http: httpx.AsyncClient, account: Account, pem: str, seconds: int) -> str:
    """The account's own token, signed again by auth's key with an expiry `seconds` away
    (auth issues tokens for at least 30 s)."""
    kid = (await http.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    claims |= {"exp": int(time.time()) + seconds, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


async def test_a_socket_is_asked_to_reauthenticate_then_ended_when_its_token_expires(
    stack_urls: StackUrls, isolation: Isolation, tmp_path: Path
) -> None:
    pem = _signing_key(tmp_path / "signing.pem")
    async with (
        platform(
            stack_urls,
            isolation,
            {"signing_key_file": str(tmp_path / "signing.pem")},
            socket_reauth_lead_seconds=2,
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        token = await _short_lived(http, owner, pem, 4)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        socket = ParleySocket(running.url, token)
        await socket.connect()
        try:
            asked = await socket.wait_for(lambda e: e.type == "reauth_required")
            ended = await socket.wait_for(lambda e: e.type == "session_expired")
            async with asyncio.timeout(10):
                while socket.connected:  # noqa: ASYNC110 - the client has no disconnect event
                    await asyncio.sleep(0.05)
        finally:
            await socket.disconnect()
    assert [e.type for e in socket.events] == ["reauth_required", "session_expired"]
    assert asked.data == {"expires_at": timestamp(expires)}
    assert ended.data["status"] == 401


async def test_reauth_with_a_fresh_token_of_the_same_user_keeps_the_socket(
    stack_urls: StackUrls, isolation: Isolation, tmp_path: Path
) -> None:
    pem = _signing_key(tmp_path / "signing.pem")
    async with (
        platform(
            stack_urls,
            isolation,
            {"signing_key_file": str(tmp_path / "signing.pem")},
            socket_reauth_lead_seconds=3,
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        conversation = await new_group(http, owner, ann)
        token = await _short_lived(http, owner, pem, 5)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        socket = ParleySocket(running.url, token)
        await socket.connect()
        try:
            await socket.wait_for(lambda e: e.type == "reauth_required")
            with pytest.raises(SocketRefused, match="403"):
                await socket.reauthenticate(ann.access_token)  # another user's token
            with pytest.raises(SocketRefused, match="401"):
                await socket.reauthenticate("not-a-jwt")
            renewed = await socket.reauthenticate(owner.access_token)
            # Past the first token's expiry the socket is still there and still served.
            await asyncio.sleep(max(0.0, expires + 1 - time.time()))
            await send(http, ann, conversation, "still here?")
            heard = await socket.wait_for(lambda e: e.type == "message.created")
            history = await socket.sync(conversation, 0)
            still_connected = socket.connected
        finally:
            await socket.disconnect()
    fresh = jwt.decode(owner.access_token, options={"verify_signature": False})["exp"]
    assert renewed == {"ok": True, "expires_at": timestamp(fresh)}
    assert still_connected
    assert socket.of_type("session_expired") == []
    assert heard.data["content"] == "still here?"
    assert [m.content for m in history] == ["still here?"]
