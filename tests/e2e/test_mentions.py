"""Mentions and notifications through the gateway: resolution, `mention.created` on every
socket of the mentioned user (and no one else's), the feed, unread mention counts, levels,
edits and deletes."""

from collections.abc import Callable

import pytest
from e2e_factories import close, member_of, tenant_with_owner

from parley_client import NotFound
from parley_client.socket import SocketEvent
from parley_contracts.resources import Notification

pytestmark = pytest.mark.e2e


def mention_of(message_id: str) -> Callable[[SocketEvent], bool]:
    return lambda e: e.type == "mention.created" and e.data.get("message_id") == message_id


async def test_a_mention_reaches_every_socket_of_the_mentioned_member_only(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    cy = await member_of(gateway, ada, "cy")  # in the tenant, not in the conversation
    other = await tenant_with_owner(gateway, "bob")  # another tenant's "bob"... and its owner
    zed = await member_of(gateway, other, "zed")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="plans")
        async with (
            bob.client.socket() as phone,
            bob.client.socket() as laptop,
            cy.client.socket() as bystander,
        ):
            sent = await ada.client.send_message(group.id, "@bob @cy @zed @ghost see the plan")
            on_phone = await phone.wait_for(mention_of(sent.id))
            on_laptop = await laptop.wait_for(mention_of(sent.id))
            # Later events of ada's are delivered after this one: the bystander has had time.
            marker = await ada.client.send_message(group.id, "@bob done")
            await phone.wait_for(mention_of(marker.id))
            unread = await bob.client.get_conversation(group.id)
            bob_feed = await bob.client.notifications()
            cy_feed = await cy.client.notifications()
            zed_feed = await zed.client.notifications()
            everyone_by_member = await bob.client.send_message(group.id, "@all hello")
            everyone_by_admin = await ada.client.send_message(group.id, "@all hello")
    finally:
        await close(ada, bob, cy, other, zed)

    assert sent.mentions == [bob.user_id]
    notification = Notification.model_validate(on_phone.data)
    assert on_laptop.event_id == on_phone.event_id
    assert (notification.kind, notification.actor_id, notification.conversation_id) == (
        "mention",
        ada.user_id,
        group.id,
    )
    assert notification.excerpt == "@bob @cy @zed @ghost see the plan"
    assert bystander.of_type("mention.created") == []
    assert unread.unread_mention_count == 2
    assert [n.message_id for n in bob_feed.items] == [marker.id, sent.id]
    assert cy_feed.items == []
    assert zed_feed.items == []
    assert everyone_by_member.mentions == []
    assert everyone_by_admin.mentions == [bob.user_id]


async def test_feed_read_state_levels_edits_deletes_and_replies(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    cy = await member_of(gateway, ada, "cy")
    outsider = await tenant_with_owner(gateway)
    try:
        group = await ada.client.create_conversation(
            "group", [bob.user_id, cy.user_id], title="ops"
        )
        sent = [await ada.client.send_message(group.id, f"@bob item {i}") for i in range(3)]
        first_page = await bob.client.notifications(limit=2)
        assert first_page.next_cursor is not None
        second_page = await bob.client.notifications(limit=2, cursor=first_page.next_cursor)
        left = await bob.client.mark_notifications_read([first_page.items[0].id])
        unread_only = await bob.client.notifications(unread=True)
        before_read = (await bob.client.get_conversation(group.id)).unread_mention_count
        await bob.client.mark_read(group.id, sent[1].seq)
        after_read = (await bob.client.get_conversation(group.id)).unread_mention_count
        none_left = await bob.client.mark_notifications_read(everything=True)

        # An edit moves a mention from bob to cy; a delete withdraws it.
        edited = await ada.client.edit_message(group.id, sent[2].id, "@cy item 2")
        bob_after_edit = await bob.client.notifications()
        cy_after_edit = await cy.client.notifications()
        await ada.client.delete_message(group.id, sent[2].id)
        cy_after_delete = await cy.client.notifications()

        # Muted: no notification, but the mention still counts as unread.
        muted = await cy.client.set_notification_level(group.id, "none")
        quiet = await ada.client.send_message(group.id, "@cy while muted")
        cy_muted_feed = await cy.client.notifications()
        cy_muted_count = (await cy.client.get_conversation(group.id)).unread_mention_count
        # `mentions`: replies to one's messages do not notify; `all` (default) does.
        await bob.client.set_notification_level(group.id, "mentions")
        by_bob = await bob.client.send_message(group.id, "bob's question")
        by_cy = await cy.client.send_message(group.id, "cy's question")
        await ada.client.send_message(group.id, "an answer", parent_id=by_bob.id)
        await cy.client.set_notification_level(group.id, "all")
        answer = await ada.client.send_message(group.id, "an answer", parent_id=by_cy.id)
        bob_replies = [n for n in (await bob.client.notifications()).items if n.kind == "reply"]
        cy_replies = [n for n in (await cy.client.notifications()).items if n.kind == "reply"]
        with pytest.raises(NotFound):
            await outsider.client.set_notification_level(group.id, "none")
    finally:
        await close(ada, bob, cy, outsider)

    assert [n.message_id for n in first_page.items + second_page.items] == [
        m.id for m in reversed(sent)
    ]
    assert second_page.next_cursor is None
    assert left == 2
    assert [n.message_id for n in unread_only.items] == [sent[1].id, sent[0].id]
    assert (before_read, after_read, none_left) == (3, 1, 0)
    assert edited.mentions == [cy.user_id]
    assert [n.message_id for n in bob_after_edit.items] == [sent[1].id, sent[0].id]
    assert [n.message_id for n in cy_after_edit.items] == [sent[2].id]
    assert cy_after_delete.items == []
    assert muted.notification_level == "none"
    assert quiet.mentions == [cy.user_id]
    assert cy_muted_feed.items == []
    assert cy_muted_count == 1
    assert bob_replies == []
    assert [(n.message_id, n.actor_id) for n in cy_replies] == [(answer.id, ada.user_id)]
