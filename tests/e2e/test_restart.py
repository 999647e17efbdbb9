"""The gateway dies (SIGKILL) while messages are being sent; after it restarts, a client that
reconnects and syncs from its last seen seq has every message exactly once, in seq order."""

import asyncio

import httpx
import pytest
from e2e_factories import close, member_of, tenant_with_owner
from e2e_suite import ProcessSuite

from parley_client import ParleyClient, ParleyError
from parley_contracts.resources import Message

pytestmark = pytest.mark.e2e

COUNT = 60


async def _send_all(client: ParleyClient, conversation_id: str) -> None:
    """Send COUNT messages; retry each (same client id, so never twice) until accepted."""
    for index in range(COUNT):
        while True:
            try:
                await client.send_message(conversation_id, f"m{index}", client_msg_id=f"c{index}")
                break
            except (httpx.TransportError, ParleyError):
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.01)


async def test_sync_after_a_gateway_crash_recovers_every_message_once(
    gateway: str, processes: ProcessSuite
) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="crash")
        socket = bob.client.socket()
        await socket.connect()
        sender = asyncio.create_task(_send_all(ada.client, group.id))
        await socket.wait_for(lambda e: e.type == "message.created")
        await asyncio.to_thread(processes.kill, "gateway")
        seen: dict[int, Message] = {
            e.message().seq: e.message() for e in socket.of_type("message.created")
        }
        await asyncio.sleep(1.0)
        await asyncio.to_thread(processes.start, "gateway")
        await asyncio.to_thread(processes.wait_ready, "gateway")
        await asyncio.wait_for(sender, 120)
        again = bob.client.socket()
        await again.connect()
        missed = await again.sync(group.id, max(seen))
        await again.disconnect()
    finally:
        await close(ada, bob)
    duplicates = [m.seq for m in missed if m.seq in seen]
    for message in missed:
        seen[message.seq] = message
    assert duplicates == []
    assert sorted(seen) == list(range(1, COUNT + 1))
    assert [seen[seq].content for seq in sorted(seen)] == [f"m{i}" for i in range(COUNT)]
