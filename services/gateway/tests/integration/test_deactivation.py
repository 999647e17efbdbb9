"""A deactivated user's sockets close on every gateway replica (the relay consumes
`user.deactivated` once, the Socket.IO manager takes the disconnect to the replica holding
each socket), and neither replica lets the old token connect again."""

import asyncio

import httpx
import pytest
import socketio
from gateway_factories import listen, new_tenant, new_user
from gateway_suite import backend, two_gateways

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

CLOSE_WITHIN_SECONDS = 15.0


async def closed(clients: list[socketio.AsyncClient]) -> bool:
    """Whether every client is disconnected, polled for up to `CLOSE_WITHIN_SECONDS`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + CLOSE_WITHIN_SECONDS
    while loop.time() < give_up:
        if not any(client.connected for client in clients):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_deactivation_closes_the_users_sockets_on_every_replica(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        backend(stack_urls, isolation) as behind,
        two_gateways(behind) as second_url,
        httpx.AsyncClient(base_url=second_url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        bea = await new_user(http, owner, "bea")
        on_first = await listen(behind.url, ann)
        on_second = await listen(second_url, ann)
        bystander = await listen(behind.url, bea)
        try:
            deactivated = await http.post(
                f"/v1/users/{ann.user_id}/deactivate", headers=owner.headers
            )
            all_closed = await closed([on_first.client, on_second.client])
            refused = []
            for url in (behind.url, second_url):
                again = socketio.AsyncClient(reconnection=False)
                try:
                    await again.connect(
                        url,
                        auth={"token": ann.access_token},
                        transports=["websocket"],
                        wait_timeout=5,
                    )
                except socketio.exceptions.ConnectionError:
                    refused.append(url)
                finally:
                    await again.disconnect()
            bystander_open = bystander.client.connected
        finally:
            for listener in (on_first, on_second, bystander):
                await listener.client.disconnect()

    assert deactivated.status_code == 200, deactivated.text
    assert all_closed, "a socket of the deactivated user stayed open"
    assert refused == [behind.url, second_url]
    assert bystander_open, "another user's socket is left alone"
