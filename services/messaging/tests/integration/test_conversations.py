"""Conversations: creation rules, members, titles, read state and unread counts."""

import pytest
from messaging_factories import make_group, make_tenant, send
from messaging_suite import Suite

pytestmark = pytest.mark.integration


async def test_direct_conversation_is_unique_per_pair(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    body = {"kind": "direct", "member_ids": [ann.id]}

    first = await suite.messaging.post("/v1/conversations", json=body, headers=owner.headers)
    again = await suite.messaging.post("/v1/conversations", json=body, headers=owner.headers)
    reverse = await suite.messaging.post(
        "/v1/conversations", json={"kind": "direct", "member_ids": [owner.id]}, headers=ann.headers
    )

    assert first.status_code == 201, first.text
    assert again.status_code == reverse.status_code == 200
    assert first.json()["id"] == again.json()["id"] == reverse.json()["id"]
    assert {m["user_id"] for m in first.json()["members"]} == {owner.id, ann.id}


async def test_unknown_and_other_tenant_members_are_422(suite: Suite) -> None:
    owner, _ = await make_tenant(suite.auth, "ann")
    stranger, _ = await make_tenant(suite.auth, "bob")
    for member_ids in (["000000000000000000000000"], [stranger.id]):
        response = await suite.messaging.post(
            "/v1/conversations",
            json={"kind": "group", "member_ids": member_ids},
            headers=owner.headers,
        )
        assert response.status_code == 422, response.text


async def test_group_admin_rules_and_membership_changes(suite: Suite) -> None:
    owner, ann, bob = await make_tenant(suite.auth, "ann", "bob")
    conversation = await make_group(suite.messaging, owner, ann)
    path = f"/v1/conversations/{conversation}"

    renamed_by_member = await suite.messaging.patch(path, json={"title": "x"}, headers=ann.headers)
    added_by_member = await suite.messaging.post(
        f"{path}/members", json={"user_ids": [bob.id]}, headers=ann.headers
    )
    renamed = await suite.messaging.patch(path, json={"title": "renamed"}, headers=owner.headers)
    added = await suite.messaging.post(
        f"{path}/members", json={"user_ids": [bob.id]}, headers=owner.headers
    )
    bob_sees = await suite.messaging.get(path, headers=bob.headers)
    bob_leaves = await suite.messaging.delete(f"{path}/members/{bob.id}", headers=bob.headers)
    bob_after = await suite.messaging.get(path, headers=bob.headers)
    ann_removes_owner = await suite.messaging.delete(
        f"{path}/members/{owner.id}", headers=ann.headers
    )

    assert renamed_by_member.status_code == 403
    assert added_by_member.status_code == 403
    assert renamed.json()["title"] == "renamed"
    assert bob.id in {m["user_id"] for m in added.json()["members"]}
    assert bob_sees.status_code == 200
    assert bob_leaves.status_code == 204
    assert bob_after.status_code == 404
    assert ann_removes_owner.status_code == 403


async def test_listing_by_activity_with_unread_counts(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    older = await make_group(suite.messaging, owner, ann, title="older")
    newer = await make_group(suite.messaging, owner, ann, title="newer")
    for text in ("one", "two", "three"):
        assert (await send(suite.messaging, owner, older, text)).status_code == 201

    listed = (await suite.messaging.get("/v1/conversations", headers=ann.headers)).json()["items"]
    read = await suite.messaging.post(
        f"/v1/conversations/{older}/read", json={"seq": 2}, headers=ann.headers
    )
    backwards = await suite.messaging.post(
        f"/v1/conversations/{older}/read", json={"seq": 1}, headers=ann.headers
    )
    own_view = (
        await suite.messaging.get(f"/v1/conversations/{older}", headers=owner.headers)
    ).json()

    assert [c["id"] for c in listed] == [older, newer]
    assert listed[0]["unread_count"] == 3
    assert listed[0]["last_message"]["content"] == "three"
    assert read.json() == {
        "conversation_id": older,
        "user_id": ann.id,
        "last_read_seq": 2,
        "unread_count": 1,
    }
    assert backwards.json()["last_read_seq"] == 2
    assert own_view["unread_count"] == 0, "one's own messages are never unread"


async def test_conversation_list_paginates(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    ids = [await make_group(suite.messaging, owner, ann, title=f"g{i}") for i in range(3)]
    first = (
        await suite.messaging.get("/v1/conversations", params={"limit": 2}, headers=ann.headers)
    ).json()
    rest = (
        await suite.messaging.get(
            "/v1/conversations",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=ann.headers,
        )
    ).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == list(reversed(ids))
    assert rest["next_cursor"] is None
