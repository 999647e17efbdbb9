"""Sockets of a deactivated user close even when the relay never hears of it: the socket
heartbeat finds tokens below their user's current version and closes those whose account auth
says is deactivated. Here the gateway listens on topics nobody publishes to, so only the
heartbeat can close them; a user outdated by a role change keeps their socket."""

import asyncio

import httpx
import pytest
import socketio
from gateway_factories import Listener, listen, new_tenant, new_user
from gateway_suite import platform

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

CLOSE_WITHIN_SECONDS = 20.0


async def until_closed(listener: Listener) -> bool:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + CLOSE_WITHIN_SECONDS
    while loop.time() < give_up:
        if not listener.client.connected:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_heartbeat_closes_sockets_of_deactivated_users_the_relay_missed(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(
            stack_urls,
            isolation,
            topic_prefix=f"{isolation.topic_prefix}deaf-",  # the relay hears no user events
            presence_ttl_seconds=3,  # a heartbeat every second
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        bea = await new_user(http, owner, "bea")
        cy = await new_user(http, owner, "cy")
        sockets = {who.username: await listen(running.url, who) for who in (ann, bea, cy)}
        try:
            promoted = await http.put(
                f"/v1/users/{bea.user_id}/roles", json={"roles": ["admin"]}, headers=owner.headers
            )
            await http.post(f"/v1/users/{ann.user_id}/deactivate", headers=owner.headers)
            ann_closed = await until_closed(sockets["ann"])
            # A later deactivation closes on a later heartbeat: by then bea's outdated token
            # has been checked at least once.
            await http.post(f"/v1/users/{cy.user_id}/deactivate", headers=owner.headers)
            cy_closed = await until_closed(sockets["cy"])
            bea_open = sockets["bea"].client.connected
            again = socketio.AsyncClient(reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await again.connect(
                    running.url,
                    auth={"token": ann.access_token},
                    transports=["websocket"],
                    wait_timeout=5,
                )
            await again.disconnect()
        finally:
            for listener in sockets.values():
                await listener.client.disconnect()

    assert promoted.status_code == 200
    assert ann_closed, "the deactivated user's socket stayed open"
    assert cy_closed
    assert bea_open, "a role change does not close sockets"
    expired = sockets["ann"].of_type("session_expired")
    assert [e["data"]["detail"] for e in expired] == ["the account is deactivated"]
