"""A message sent through the edge reaches a member's socket with the REST shape."""

import httpx
import pytest
from gateway_factories import listen, new_group, new_tenant, new_user, send
from gateway_suite import Platform

pytestmark = pytest.mark.integration


async def test_message_reaches_member_socket(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        conversation = await new_group(http, owner, ann)
        socket = await listen(suite.url, ann)
        try:
            sent = await send(http, owner, conversation, "hello ann")
            event = await socket.wait_for(lambda name, _: name == "message.created")
        finally:
            await socket.client.disconnect()

    assert event["data"] == sent
    assert event["type"] == "message.created"
    assert event["tenant_id"] == owner.tenant_id
