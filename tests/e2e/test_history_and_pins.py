"""Edit history and pins through the gateway, with the typed client and a member's socket."""

import pytest
from e2e_factories import close, member_of, tenant_with_owner

from parley_client import Conflict, Forbidden, NotFound

pytestmark = pytest.mark.e2e


async def test_edit_history_through_the_gateway(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    eve = await member_of(gateway, ada, "eve")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="drafts")
        sent = await bob.client.send_message(group.id, "first draft")
        await bob.client.edit_message(group.id, sent.id, "second draft")
        edited = await bob.client.edit_message(group.id, sent.id, "final")
        versions = await ada.client.message_edits(group.id, sent.id)
        newest = (await ada.client.list_messages(group.id)).items[0]
        with pytest.raises(NotFound):
            await eve.client.message_edits(group.id, sent.id)
        await bob.client.delete_message(group.id, sent.id)
        after_delete = await ada.client.message_edits(group.id, sent.id)
    finally:
        await close(ada, bob, eve)

    assert [(v.version, v.content) for v in versions] == [(1, "first draft"), (2, "second draft")]
    assert versions[0].edited_at <= versions[1].edited_at
    assert edited.edit_count == 2
    assert (newest.id, newest.edit_count, newest.content) == (sent.id, 2, "final")
    assert after_delete == []


async def test_pins_through_the_gateway_with_socket_events(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    eve = await member_of(gateway, ada, "eve")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="pins")
        async with bob.client.socket() as bob_socket, eve.client.socket() as eve_socket:
            first = await ada.client.send_message(group.id, "the agenda")
            second = await bob.client.send_message(group.id, "the minutes")
            with pytest.raises(Forbidden):
                await bob.client.pin_message(group.id, first.id)
            with pytest.raises(NotFound):
                await eve.client.pin_message(group.id, first.id)
            with pytest.raises(NotFound):
                await eve.client.pins(group.id)
            pinned = await ada.client.pin_message(group.id, first.id)
            again = await ada.client.pin_message(group.id, first.id)
            await ada.client.pin_message(group.id, second.id)
            listed = await bob.client.pins(group.id)
            history = await bob.client.list_messages(group.id)
            with pytest.raises(Forbidden):
                await bob.client.unpin_message(group.id, first.id)
            unpinned = await ada.client.unpin_message(group.id, first.id)
            # Events of a conversation arrive in order: once the unpin is here, every pin
            # event before it is too (a repeated pin would have sent one more).
            unpin_seen = await bob_socket.wait_for(lambda e: e.type == "message.unpinned")
            pin_events = bob_socket.of_type("message.pinned")
            # One emit reaches every socket of the room at once: had eve been in it, she would
            # hold the events bob has by now.
            outsider_events = [e for e in eve_socket.events if e.type.startswith("message.")]
            await bob.client.delete_message(group.id, second.id)
            await bob_socket.wait_for(lambda e: e.type == "message.deleted")
            after_delete = await bob.client.pins(group.id)
            with pytest.raises(Conflict):
                await ada.client.pin_message(group.id, second.id)
    finally:
        await close(ada, bob, eve)

    assert (pinned.pinned_by, again.version) == (ada.user_id, pinned.version)
    assert pinned.pinned_at is not None
    assert [m.id for m in listed] == [second.id, first.id]
    assert {m.id: m.pinned_by for m in history.items} == {
        first.id: ada.user_id,
        second.id: ada.user_id,
    }
    assert (unpinned.pinned_at, unpinned.pinned_by) == (None, None)
    assert [e.message().id for e in pin_events] == [first.id, second.id]
    assert pin_events[0].message().pinned_by == ada.user_id
    assert unpin_seen.message().id == first.id
    assert unpin_seen.message().pinned_at is None
    assert after_delete == []
    assert outsider_events == []
