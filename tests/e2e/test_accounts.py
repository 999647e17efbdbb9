"""Accounts and sessions through the gateway on the real engines: profile and password changes,
the session list, deactivation (sign-in refused, tokens refused within seconds, sockets
dropped, groups handed over) and role changes taking effect on the next request."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from e2e_factories import PASSWORD, Person, close, member_of, tenant_with_owner

from parley_client import (
    Conflict,
    Forbidden,
    NotFound,
    ParleyClient,
    ParleySocket,
    SocketRefused,
    Unauthorized,
)

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new passphrase"
REFUSED_WITHIN_SECONDS = 5.0


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> float | None:
    """Seconds until `check` first holds (polled), or None if it did not within `seconds`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start <= seconds:
        if await check():
            return loop.time() - start
        await asyncio.sleep(0.05)
    return None


async def signed_in(gateway: str, person: Person, password: str = PASSWORD) -> ParleyClient:
    """Another session of `person` (a second device)."""
    client = ParleyClient(gateway)
    await client.login(person.tenant, person.username, password)
    return client


async def status_with_token(client: ParleyClient, path: str = "/v1/auth/me") -> int:
    """The status of a call with the client's current access token, never refreshed."""
    return (await client.raw("GET", path)).status_code


async def test_a_password_change_ends_the_other_sessions_and_keeps_the_current_one(
    gateway: str,
) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    phone = await signed_in(gateway, bob)
    try:
        with pytest.raises(Forbidden):
            await bob.client.change_password("not my password", NEW_PASSWORD)
        await bob.client.change_password(PASSWORD, NEW_PASSWORD)
        # The other device's access token is refused at once, not at its expiry...
        phone_status = await status_with_token(phone)
        with pytest.raises(Unauthorized):
            await phone.refresh()
        # ...and so is the caller's, which its still live session refreshes.
        own_status = await status_with_token(bob.client)
        await bob.client.refresh()
        me = await bob.client.me()
        with pytest.raises(Unauthorized):
            await ParleyClient(gateway).login(bob.tenant, "bob", PASSWORD)
        again = await signed_in(gateway, bob, NEW_PASSWORD)
        await again.aclose()
    finally:
        await phone.aclose()
        await close(ada, bob)

    assert phone_status == 401
    assert own_status == 401
    assert me.id == bob.user_id


async def test_sessions_are_listed_and_ended_one_by_one(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    phone = await signed_in(gateway, bob)
    try:
        listed = await bob.client.sessions()
        from_phone = await phone.sessions()
        other = next(s for s in listed if not s.current)
        ada_session = (await ada.client.sessions())[0]
        with pytest.raises(NotFound):
            await bob.client.end_session(ada_session.id)
        await bob.client.end_session(other.id)
        with pytest.raises(NotFound):
            await bob.client.end_session(other.id)
        with pytest.raises(Unauthorized):
            await phone.refresh()
        after = await bob.client.sessions()
        await ada.client.refresh()  # the owner's session was not touched
    finally:
        await phone.aclose()
        await close(ada, bob)

    assert len(listed) == 2
    assert sum(s.current for s in listed) == 1
    assert {s.id for s in listed} == {s.id for s in from_phone}
    assert [s.current for s in from_phone].count(True) == 1
    assert next(s for s in from_phone if s.current).id == other.id
    assert all(s.ip == "127.0.0.1" for s in listed)
    assert [s.id for s in after] == [next(s for s in listed if s.current).id]


async def test_deactivation_refuses_sign_in_and_old_tokens_drops_sockets_and_hands_groups_over(
    gateway: str,
) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    cid = await member_of(gateway, ada, "cid")
    phone = await signed_in(gateway, bob)
    try:
        group = await bob.client.create_conversation("group", [cid.user_id], title="bob's")
        await bob.client.send_message(group.id, "handing over soon")
        sockets = [bob.client.socket(), phone.socket()]
        for socket in sockets:
            await socket.connect()
        old_token = bob.client.access_token
        assert old_token is not None

        deactivated = await ada.client.deactivate_user(bob.user_id)
        refused_after = await eventually(lambda: _refused(bob.client), REFUSED_WITHIN_SECONDS)
        dropped_after = await eventually(lambda: _all_closed(sockets), 15.0)
        with pytest.raises(Unauthorized):
            await ParleyClient(gateway).login(bob.tenant, "bob", PASSWORD)
        with pytest.raises(Unauthorized):
            await phone.refresh()
        with pytest.raises(SocketRefused):
            await ParleySocket(gateway, old_token).connect()
        handed_after = await eventually(lambda: _is_admin(cid, group.id), 30.0)
        messages = await cid.client.list_messages(group.id)
        listed = await ada.client.list_users(q="bob")

        back = await ada.client.reactivate_user(bob.user_id)
        returning = await signed_in(gateway, bob)
        me = await returning.me()
        await returning.aclose()
    finally:
        await phone.aclose()
        await close(ada, bob, cid)

    assert deactivated.active is False
    assert refused_after is not None, "the old access token was still accepted after 5 s"
    assert dropped_after is not None, "the sockets stayed open"
    assert handed_after is not None, "no active admin was promoted"
    assert [m.content for m in messages.items] == ["handing over soon"]
    assert listed.items[0].active is False
    assert back.active is True
    assert me.id == bob.user_id
    assert me.active is True


async def _refused(client: ParleyClient) -> bool:
    return await status_with_token(client) == 401


async def _all_closed(sockets: list[ParleySocket]) -> bool:
    return not any(socket.connected for socket in sockets)


async def _is_admin(person: Person, conversation_id: str) -> bool:
    conversation = await person.client.get_conversation(conversation_id)
    return any(m.user_id == person.user_id and m.role == "admin" for m in conversation.members)


async def test_a_role_change_takes_effect_on_the_next_request_with_an_old_token(
    gateway: str,
) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    cid = await member_of(gateway, ada, "cid")
    try:
        with pytest.raises(Forbidden):
            await bob.client.deactivate_user(cid.user_id)
        await ada.client.set_roles(bob.user_id, ["admin"])
        promoted_old_token = await status_with_token(bob.client)
        await bob.client.refresh()
        as_admin = await bob.client.deactivate_user(cid.user_id)
        await bob.client.reactivate_user(cid.user_id)

        await ada.client.set_roles(bob.user_id, ["member"])
        demoted_old_token = await status_with_token(bob.client, "/v1/users")
        # The client refreshes on the 401 and retries with the current (member) roles.
        with pytest.raises(Forbidden):
            await bob.client.deactivate_user(cid.user_id)
    finally:
        await close(ada, bob, cid)

    assert promoted_old_token == 401
    assert as_admin.active is False
    assert demoted_old_token == 401


async def test_who_may_deactivate_whom(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    cid = await member_of(gateway, ada, "cid")
    other = await tenant_with_owner(gateway, "oz")
    try:
        await ada.client.set_roles(cid.user_id, ["admin"])
        await cid.client.refresh()
        with pytest.raises(Forbidden):
            await bob.client.deactivate_user(cid.user_id)  # a member
        with pytest.raises(Forbidden):
            await ada.client.deactivate_user(ada.user_id)  # oneself
        with pytest.raises(Forbidden):
            await cid.client.deactivate_user(ada.user_id)  # an admin, the owner
        with pytest.raises(NotFound):
            await ada.client.deactivate_user(other.user_id)  # another tenant's user
        with pytest.raises(NotFound):
            await ada.client.reactivate_user(other.user_id)
        by_admin = await cid.client.deactivate_user(bob.user_id)
        still_there = await other.client.me()
    finally:
        await close(ada, bob, cid, other)

    assert by_admin.active is False
    assert still_there.active is True


async def test_a_profile_change_and_a_taken_email(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    other = await tenant_with_owner(gateway, "bob")
    try:
        renamed = await bob.client.update_me(display_name="Bob B", email=f"robert@{bob.tenant}.io")
        with pytest.raises(Conflict):
            await bob.client.update_me(email=f"ADA@{ada.tenant}.example.com")
        # Emails are unique per tenant: another tenant's address is free to take.
        elsewhere = await bob.client.update_me(email=f"bob@{other.tenant}.example.com")
        by_email = await signed_in(gateway, Person(bob.client, bob.tenant, "", elsewhere.email))
        await by_email.aclose()
        cleared = await bob.client.update_me(display_name=None)
    finally:
        await close(ada, bob, other)

    assert renamed.display_name == "Bob B"
    assert renamed.email == f"robert@{bob.tenant}.io"
    assert elsewhere.email == f"bob@{other.tenant}.example.com"
    assert cleared.display_name is None
    assert cleared.email == elsewhere.email
