"""A deactivated user leaves no group without an active admin: the earliest-joined active
member is promoted (through auth's user.deactivated on the users topic), the user stays a
member, and a group that still has an active admin is left alone."""

import asyncio
from typing import Any

import pytest
from messaging_factories import Person, make_group, make_tenant, send
from messaging_suite import Suite

pytestmark = pytest.mark.integration

WAIT_SECONDS = 30.0


async def roles(suite: Suite, viewer: Person, conversation_id: str) -> dict[str, str]:
    response = await suite.messaging.get(
        f"/v1/conversations/{conversation_id}", headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    members: list[dict[str, Any]] = response.json()["members"]
    return {m["user_id"]: m["role"] for m in members}


async def deactivate(suite: Suite, owner: Person, user: Person) -> None:
    response = await suite.auth.post(f"/v1/users/{user.id}/deactivate", headers=owner.headers)
    assert response.status_code == 200, response.text


async def until_admin(suite: Suite, viewer: Person, conversation_id: str, user: Person) -> bool:
    """Poll until `user` is an admin of the conversation (False if not within the wait)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + WAIT_SECONDS
    while loop.time() < give_up:
        if (await roles(suite, viewer, conversation_id)).get(user.id) == "admin":
            return True
        await asyncio.sleep(0.1)
    return False


async def test_the_earliest_joined_active_member_takes_over_from_a_deactivated_last_admin(
    suite: Suite,
) -> None:
    owner, alice, bob, carol, dave = await make_tenant(suite.auth, "alice", "bob", "carol", "dave")
    handed = await make_group(suite.messaging, alice, bob)
    added = await suite.messaging.post(
        f"/v1/conversations/{handed}/members",
        json={"user_ids": [carol.id, dave.id]},
        headers=alice.headers,
    )
    assert added.status_code in (200, 201), added.text
    kept = await make_group(suite.messaging, dave, alice, title="dave's")
    assert (await send(suite.messaging, alice, handed, "before I go")).status_code == 201

    await deactivate(suite, owner, bob)  # the earliest member, but no longer active
    await deactivate(suite, owner, alice)

    assert await until_admin(suite, carol, handed, carol)
    after = await roles(suite, carol, handed)
    assert after[alice.id] == "admin", "the deactivated user stays a member"
    assert after[bob.id] == "member"
    assert after[dave.id] == "member", "one heir only"
    assert (await roles(suite, dave, kept))[alice.id] == "member"
    history = await suite.messaging.get(
        f"/v1/conversations/{handed}/messages", headers=carol.headers
    )
    assert [m["content"] for m in history.json()["items"]] == ["before I go"]
