"""Tenancy and membership on every route, tried as an attacker would: another tenant's user
and a same-tenant non-member, with real ids they should never be able to use."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from e2e_factories import close, member_of, tenant_with_owner

from parley_client import NotFound, ParleyClient, ParleyError

pytestmark = pytest.mark.e2e


async def _status(call: Awaitable[Any]) -> int:
    try:
        await call
    except ParleyError as exc:
        return exc.status
    return 200


async def test_outsiders_get_404_on_every_conversation_and_message_route(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    eve = await member_of(gateway, ada, "eve")  # same tenant, not a member
    mallory = await tenant_with_owner(gateway, "mallory")  # another tenant
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="private")
        message = await ada.client.send_message(group.id, "private plans")
        cid, mid = group.id, message.id
        attempts: dict[str, Callable[[ParleyClient], Awaitable[Any]]] = {
            "get": lambda c: c.get_conversation(cid),
            "rename": lambda c: c.rename_conversation(cid, "mine"),
            "add member": lambda c: c.add_members(cid, [mallory.user_id]),
            "remove member": lambda c: c.remove_member(cid, bob.user_id),
            "read": lambda c: c.mark_read(cid, 1),
            "send": lambda c: c.send_message(cid, "let me in"),
            "history": lambda c: c.list_messages(cid),
            "gap fill": lambda c: c.list_messages(cid, after_seq=0),
            "message": lambda c: c.get_message(cid, mid),
            "replies": lambda c: c.replies(cid, mid),
            "edit": lambda c: c.edit_message(cid, mid, "defaced"),
            "delete": lambda c: c.delete_message(cid, mid),
            "react": lambda c: c.react(cid, mid, "x"),
            "unreact": lambda c: c.unreact(cid, mid, "x"),
        }
        results = {
            (who.username, name): await _status(attempt(who.client))
            for who in (eve, mallory)
            for name, attempt in attempts.items()
        }
        mallory_users = await mallory.client.list_users()
        with pytest.raises(NotFound):
            await mallory.client.set_roles(bob.user_id, ["admin"])
        intact = await bob.client.get_message(cid, mid)
        conversations_of_eve = await eve.client.list_conversations()
    finally:
        await close(ada, bob, eve, mallory)
    assert {key: status for key, status in results.items() if status != 404} == {}
    assert [u.username for u in mallory_users.items] == ["mallory"]
    assert intact.content == "private plans"
    assert conversations_of_eve.items == []


async def test_sockets_and_search_never_cross_tenants_or_memberships(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    eve = await member_of(gateway, ada, "eve")
    mallory = await tenant_with_owner(gateway, "mallory")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="x")
        async with (
            bob.client.socket() as bob_socket,
            eve.client.socket() as eve_socket,
            mallory.client.socket() as mallory_socket,
        ):
            guessed = await mallory_socket.typing(group.id)
            with pytest.raises(Exception, match="404"):
                await eve_socket.sync(group.id, 0)
            sent = await ada.client.send_message(group.id, "quarterly numbers unicorn")
            await bob_socket.wait_for(lambda e: e.type == "message.created")
            # Mallory's tenant has a message with the same word: each sees only their own.
            mine = await mallory.client.create_conversation("group", [], title="m")
            await mallory.client.send_message(mine.id, "my unicorn")
            for _ in range(60):
                bob_hits = await bob.client.search("unicorn")
                mallory_hits = await mallory.client.search("unicorn")
                if bob_hits.items and mallory_hits.items:
                    break
                await asyncio.sleep(0.1)
            eve_hits = await eve.client.search("unicorn")
            await asyncio.sleep(0.5)
            eve_events, mallory_events = list(eve_socket.events), list(mallory_socket.events)
    finally:
        await close(ada, bob, eve, mallory)
    assert guessed["ok"] is False
    assert [h.message.id for h in bob_hits.items] == [sent.id]
    assert [h.message.content for h in mallory_hits.items] == ["my unicorn"]
    assert eve_hits.items == []
    assert eve_events == []
    assert [e.type for e in mallory_events if e.data.get("id") == sent.id] == []
    assert all(e.tenant_id == mallory_events[0].tenant_id for e in mallory_events)
