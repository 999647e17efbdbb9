"""The complete user journey of API.md, only through the gateway, with the typed client."""

import asyncio

import pytest
from e2e_factories import PASSWORD, close, member_of, tenant_with_owner

from parley_client import ParleyClient, SocketEvent, Unauthorized
from parley_contracts.resources import SearchPage

pytestmark = pytest.mark.e2e


async def test_auth_lifecycle(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    try:
        again = ParleyClient(gateway)
        tokens = await again.login(ada.tenant, "bob", PASSWORD)
        me = await again.me()
        first_refresh = tokens.refresh_token
        await again.refresh()
        spent = ParleyClient(gateway, refresh_token=first_refresh)
        with pytest.raises(Unauthorized):
            await spent.refresh()  # reuse of a spent token revokes the whole family
        with pytest.raises(Unauthorized):
            await again.refresh()
        users = await ada.client.list_users()
        promoted = await ada.client.set_roles(bob.user_id, ["admin"])
        jwks = await ada.client.jwks()
        await ada.client.logout()
        await again.aclose()
        await spent.aclose()
    finally:
        await close(ada, bob)
    assert me.username == "bob"
    assert {u.username for u in users.items} == {"ada", "bob"}
    assert [str(r) for r in promoted.roles] == ["admin"]
    assert jwks["keys"]


async def test_conversation_message_search_and_socket_journey(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="launch")
        direct = await ada.client.create_conversation("direct", [bob.user_id])
        direct_again = await ada.client.create_conversation("direct", [bob.user_id])
        async with bob.client.socket() as bob_socket, ada.client.socket() as ada_socket:
            first = await ada.client.send_message(
                group.id, "the deployment checklist is ready", client_msg_id="k1"
            )
            duplicate = await ada.client.send_message(group.id, "ignored", client_msg_id="k1")
            reply = await bob.client.send_message(group.id, "looks good", parent_id=first.id)
            edited = await ada.client.edit_message(group.id, first.id, "the deployment list")
            reacted = await bob.client.react(group.id, first.id, "🚀")
            doomed = await ada.client.send_message(group.id, "oops secret")
            await ada.client.delete_message(group.id, doomed.id)
            marker = await bob.client.mark_read(group.id, doomed.seq)
            await ada_socket.typing(group.id)

            def arrived(kind: str) -> "asyncio.Future[SocketEvent]":
                return asyncio.ensure_future(bob_socket.wait_for(lambda e: e.type == kind))

            kinds = [
                "message.created",
                "message.updated",
                "reaction.updated",
                "message.deleted",
                "typing",
            ]
            received = await asyncio.gather(*(arrived(kind) for kind in kinds))
            read_seen = await ada_socket.wait_for(lambda e: e.type == "read.updated")
            synced = await bob_socket.sync(group.id, 0)

        history = await bob.client.list_messages(group.id)
        gap_fill = await bob.client.list_messages(group.id, after_seq=1)
        replies = await ada.client.replies(group.id, first.id)
        listed = await bob.client.list_conversations()
        # Events of one conversation are indexed in order: once a later message is searchable,
        # the deletion before it has been applied too.
        await ada.client.send_message(group.id, "sentinel zebra")
        await _search(bob.client, "zebra", expect=1)
        found = await _search(bob.client, "deploy", expect=1)
        gone = await bob.client.search("secret")
    finally:
        await close(ada, bob)

    assert direct_again.id == direct.id
    assert duplicate.id == first.id
    assert [m.seq for m in history.items] == [3, 2, 1]
    assert [m.seq for m in gap_fill.items] == [2, 3]
    assert history.items[0].deleted
    assert history.items[0].content == ""
    assert edited.edited_at is not None
    assert reacted.reactions == {"🚀": [bob.user_id]}
    assert [m.id for m in replies.items] == [reply.id]
    assert marker.last_read_seq == doomed.seq
    assert received[0].message().id == first.id
    assert received[0].data["content"] == "the deployment checklist is ready"
    assert received[4].data == {"conversation_id": group.id, "user_id": ada.user_id}
    assert read_seen.data["user_id"] == bob.user_id
    assert [m.seq for m in synced] == [1, 2, 3]
    assert {c.id for c in listed.items} == {group.id, direct.id}
    assert [hit.message.id for hit in found.items] == [first.id]
    assert gone.items == []


async def _search(client: ParleyClient, q: str, *, expect: int) -> SearchPage:
    page = await client.search(q)
    for _ in range(60):
        if len(page.items) == expect:
            break
        await asyncio.sleep(0.1)
        page = await client.search(q)
    return page
