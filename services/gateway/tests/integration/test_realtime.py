"""Socket.IO through the gateway: who receives what, and gap-fill after a gateway restart."""

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
import socketio
from gateway_factories import Account, Listener, listen, new_group, new_tenant, new_user, send
from gateway_suite import Platform, backend, wait_ready

from parley_gateway.main import create_app
from parley_kit.testing.servers import serving
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


async def _closing(*listeners: Listener) -> None:
    for listener in listeners:
        with contextlib.suppress(Exception):
            await listener.client.disconnect()


async def test_members_receive_every_event_and_outsiders_nothing(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        eve = await new_user(http, owner, "eve")  # same tenant, not a member
        other = await new_tenant(http)  # another tenant entirely
        conversation = await new_group(http, owner, ann)
        sockets = [await listen(suite.url, who) for who in (owner, ann, eve, other)]
        owner_socket, ann_socket, eve_socket, other_socket = sockets
        try:
            sent = await send(http, owner, conversation, "first draft")
            path = f"/v1/conversations/{conversation}/messages/{sent['id']}"
            edited = await http.patch(path, json={"content": "final"}, headers=owner.headers)
            reacted = await http.put(f"{path}/reactions/%F0%9F%91%8D", headers=ann.headers)
            read = await http.post(
                f"/v1/conversations/{conversation}/read", json={"seq": 1}, headers=ann.headers
            )
            deleted = await http.delete(path, headers=owner.headers)
            typing_ack = await owner_socket.client.call(
                "typing", {"conversation_id": conversation}, timeout=5
            )
            # The outsider guesses the conversation id: typing and sync must not reach it.
            guessed_typing = await other_socket.client.call(
                "typing", {"conversation_id": conversation}, timeout=5
            )
            guessed_sync = await eve_socket.client.call(
                "sync", {"conversation_id": conversation, "after_seq": 0}, timeout=5
            )
            await ann_socket.wait_for(lambda name, _: name == "message.deleted")
            await ann_socket.wait_for(lambda name, _: name == "typing")
            await asyncio.sleep(1.0)  # anything misrouted would have arrived by now
        finally:
            await _closing(*sockets)

    assert [r.status_code for r in (edited, reacted, read, deleted)] == [200, 200, 200, 204]
    # (conversation.created may arrive too: the relay can lag behind the socket's connect.)
    kinds = [n for n, _ in ann_socket.received if n.startswith(("message.", "reaction.", "read."))]
    assert kinds[:1] == ["message.created"]
    assert {"message.updated", "reaction.updated", "read.updated", "message.deleted"} <= set(kinds)
    created = ann_socket.of_type("message.created")[0]
    assert created["data"] == sent
    assert set(created) == {"event_id", "type", "tenant_id", "occurred_at", "data"}
    assert ann_socket.of_type("message.updated")[0]["data"]["content"] == "final"
    assert ann_socket.of_type("message.deleted")[0]["data"]["deleted"] is True
    assert ann_socket.of_type("typing")[0]["data"] == {
        "conversation_id": conversation,
        "user_id": owner.user_id,
    }
    assert typing_ack == {"ok": True}
    assert guessed_typing["ok"] is False
    assert guessed_sync["error"]["status"] == 404
    assert eve_socket.received == []
    assert other_socket.received == []


async def test_member_added_joins_the_room_and_removed_leaves_it(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        bob = await new_user(http, owner, "bob")
        conversation = await new_group(http, owner, ann)
        bob_socket = await listen(suite.url, bob)
        try:
            added = await http.post(
                f"/v1/conversations/{conversation}/members",
                json={"user_ids": [bob.user_id]},
                headers=owner.headers,
            )
            await bob_socket.wait_for(lambda name, _: name == "member.added")
            await send(http, ann, conversation, "welcome bob")
            await bob_socket.wait_for(lambda name, _: name == "message.created")
            removed = await http.delete(
                f"/v1/conversations/{conversation}/members/{bob.user_id}", headers=owner.headers
            )
            await bob_socket.wait_for(lambda name, _: name == "member.removed")
            await send(http, ann, conversation, "bob is gone")
            await asyncio.sleep(1.5)
        finally:
            await _closing(bob_socket)

    assert added.status_code == 200
    assert removed.status_code == 204
    contents = [p["data"]["content"] for p in bob_socket.of_type("message.created")]
    assert contents == ["welcome bob"]


async def test_connect_is_refused_without_a_valid_token(suite: Platform) -> None:
    refused: list[str] = []
    for auth in (None, {"token": "not-a-jwt"}):
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(suite.url, auth=auth, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError as exc:
            refused.append(str(exc))
        finally:
            await client.disconnect()
    assert len(refused) == 2


async def test_presence_online_and_offline_reach_co_members(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        await new_group(http, owner, ann)
        owner_socket = await listen(suite.url, owner)
        try:
            ann_socket = await listen(suite.url, ann)
            online = await owner_socket.wait_for(lambda name, _: name == "presence")
            await ann_socket.client.disconnect()
            offline = await owner_socket.wait_for(
                lambda name, p: name == "presence" and p["data"]["status"] == "offline"
            )
        finally:
            await _closing(owner_socket)
    assert online["data"] == {"user_id": ann.user_id, "status": "online"}
    assert offline["data"] == {"user_id": ann.user_id, "status": "offline"}


async def _send_until_accepted(url: str, sender: Account, conversation: str, index: int) -> None:
    """Send one message, retrying with the same client id while the gateway is down."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            try:
                response = await http.post(
                    f"/v1/conversations/{conversation}/messages",
                    json={"content": f"m{index}", "client_msg_id": f"c{index}"},
                    headers=sender.headers,
                )
                if response.status_code in (200, 201):
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def test_sync_after_gateway_restart_yields_every_message_once_in_order(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with backend(stack_urls, isolation) as behind:
        settings = behind.gateway
        seen: dict[int, dict[str, Any]] = {}
        async with serving(
            create_app(settings), settings.port, ops_port=settings.resolved_ops_port
        ):
            await wait_ready(settings)
            async with httpx.AsyncClient(base_url=behind.url, timeout=10) as http:
                owner = await new_tenant(http)
                ann = await new_user(http, owner, "ann")
                conversation = await new_group(http, owner, ann)
            ann_socket = await listen(behind.url, ann)
            sender = asyncio.create_task(_send_all(behind.url, owner, conversation, 40))
            await ann_socket.wait_for(lambda name, _: name == "message.created")
        # The gateway is gone while messages keep being sent (and retried).
        await asyncio.sleep(0.5)
        for payload in ann_socket.of_type("message.created"):
            seen[payload["data"]["seq"]] = payload["data"]
        async with serving(
            create_app(settings), settings.port, ops_port=settings.resolved_ops_port
        ):
            await wait_ready(settings)
            await sender
            again = await listen(behind.url, ann)
            try:
                after = max(seen)
                while True:
                    page = await again.client.call(
                        "sync", {"conversation_id": conversation, "after_seq": after}, timeout=10
                    )
                    for message in page["items"]:
                        assert message["seq"] not in seen
                        seen[message["seq"]] = message
                    if not page["has_more"]:
                        break
                    after = max(seen)
            finally:
                await _closing(ann_socket, again)

    assert sorted(seen) == list(range(1, 41))
    assert [seen[seq]["content"] for seq in sorted(seen)] == [f"m{i}" for i in range(40)]


async def _send_all(url: str, sender: Account, conversation: str, count: int) -> None:
    for index in range(count):
        await _send_until_accepted(url, sender, conversation, index)
        await asyncio.sleep(0.02)


async def test_typing_is_throttled_per_user_and_conversation(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        conversation = await new_group(http, owner, ann)
        owner_socket, ann_socket = await listen(suite.url, owner), await listen(suite.url, ann)
        try:
            acks = [
                await owner_socket.client.call("typing", {"conversation_id": conversation})
                for _ in range(5)
            ]
            await ann_socket.wait_for(lambda name, _: name == "typing")
            await asyncio.sleep(1.0)
        finally:
            await _closing(owner_socket, ann_socket)
    assert acks == [{"ok": True}] * 5  # extra ones are dropped silently, not refused
    assert len(ann_socket.of_type("typing")) == 1
    assert owner_socket.of_type("typing") == []  # not echoed to the typist
