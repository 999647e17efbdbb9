"""Mentions and notifications on the real engines: who a message mentions, the feed, unread
mention counts, levels, edits and deletes, and rebuilding the Redis parts from the store."""

from typing import Any

import httpx
import pytest
from messaging_factories import Person, make_group, make_tenant, send
from messaging_suite import Suite
from redis.asyncio import Redis

from parley_kit.testing.stack import Isolation, StackUrls
from parley_messaging.domain.mentions import EVERYONE_PER_WINDOW
from parley_messaging.projection.notifications import NotificationProjection

pytestmark = pytest.mark.integration


async def feed(api: httpx.AsyncClient, person: Person, **params: Any) -> dict[str, Any]:
    response = await api.get("/v1/me/notifications", params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def conversation_of(api: httpx.AsyncClient, person: Person, conversation: str) -> Any:
    response = await api.get(f"/v1/conversations/{conversation}", headers=person.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def set_level(
    api: httpx.AsyncClient, person: Person, conversation: str, level: str
) -> httpx.Response:
    return await api.put(
        f"/v1/conversations/{conversation}/notifications",
        json={"level": level},
        headers=person.headers,
    )


async def forget_user_feed(suite: Suite, person: Person) -> None:
    redis = Redis.from_url(suite.settings.redis_url)
    try:
        prefix = f"{suite.settings.redis_prefix}messaging:u:{{{person.tenant_id}:{person.id}}}:"
        await redis.delete(f"{prefix}notes", f"{prefix}feed", f"{prefix}unread")
    finally:
        await redis.aclose()


async def forget_mention_counts(suite: Suite, conversation: str) -> None:
    redis = Redis.from_url(suite.settings.redis_url)
    try:
        pattern = f"{suite.settings.redis_prefix}messaging:c:*{conversation}*:mentions:*"
        keys = [k async for k in redis.scan_iter(match=pattern)]
        assert keys
        await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_mentions_resolve_to_members_only(suite: Suite) -> None:
    api = suite.messaging
    owner, ann, bob, carl = await make_tenant(suite.auth, "ann", "bob", "carl")
    _, zed = await make_tenant(suite.auth, "zed")
    conversation = await make_group(api, owner, ann, bob)

    sent = await send(
        api, bob, conversation, "hey @ann, @Carl @zed @nobody @bob mail bob@ann.example @ann."
    )
    by_member = await send(api, bob, conversation, "@all look")
    by_admin = await send(api, owner, conversation, "@all look")
    here = await send(api, owner, conversation, "@here too")

    assert sent.status_code == 201, sent.text
    assert sent.json()["mentions"] == [ann.id]
    assert by_member.json()["mentions"] == []
    assert by_admin.json()["mentions"] == sorted([ann.id, bob.id])
    assert here.json()["mentions"] == sorted([ann.id, bob.id])
    fetched = await api.get(
        f"/v1/conversations/{conversation}/messages/{sent.json()['id']}", headers=owner.headers
    )
    assert fetched.json()["mentions"] == [ann.id]
    history = await api.get(f"/v1/conversations/{conversation}/messages", headers=owner.headers)
    assert [m["mentions"] for m in history.json()["items"]][-1] == [ann.id]
    for outsider in (carl, zed):
        assert (await feed(api, outsider))["items"] == []
    assert [n["message_id"] for n in (await feed(api, ann))["items"]] == [
        here.json()["id"],
        by_admin.json()["id"],
        sent.json()["id"],
    ]


async def test_feed_pages_newest_first_and_marks_read(suite: Suite) -> None:
    api = suite.messaging
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(api, owner, ann)
    ids = [
        (await send(api, owner, conversation, f"@ann number {i}")).json()["id"] for i in range(5)
    ]

    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        page = await feed(api, ann, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [n["message_id"] for n in seen] == list(reversed(ids))
    first = seen[0]
    assert first["kind"] == "mention"
    assert first["actor_id"] == owner.id
    assert first["conversation_id"] == conversation
    assert first["excerpt"] == "@ann number 4"
    assert first["read"] is False
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 5

    marked = await api.post(
        "/v1/me/notifications/read",
        json={"ids": [seen[0]["id"], seen[1]["id"], "not-mine:mention"]},
        headers=ann.headers,
    )
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"unread_count": 3}
    unread = await feed(api, ann, unread="true")
    assert [n["message_id"] for n in unread["items"]] == list(reversed(ids))[2:]
    assert [n["read"] for n in (await feed(api, ann))["items"]] == [True, True, False, False, False]

    # Redis lost the feed: it is rebuilt from the documents, read state included.
    await forget_user_feed(suite, ann)
    assert [n["read"] for n in (await feed(api, ann))["items"]] == [True, True, False, False, False]

    everything = await api.post(
        "/v1/me/notifications/read", json={"all": True}, headers=ann.headers
    )
    assert everything.json() == {"unread_count": 0}
    assert (await feed(api, ann, unread="true"))["items"] == []
    # The feed's read state is the feed's; the conversation's count follows its read marker.
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 5
    read = await api.post(
        f"/v1/conversations/{conversation}/read", json={"seq": 3}, headers=ann.headers
    )
    assert read.status_code == 200
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 2
    await forget_mention_counts(suite, conversation)
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 2
    listed = await api.get("/v1/conversations", headers=ann.headers)
    assert listed.json()["items"][0]["unread_mention_count"] == 2


async def test_edits_add_and_remove_mentions_and_deletes_withdraw_them(suite: Suite) -> None:
    api = suite.messaging
    owner, ann, bob = await make_tenant(suite.auth, "ann", "bob")
    conversation = await make_group(api, owner, ann, bob)
    path = f"/v1/conversations/{conversation}/messages"
    message = (await send(api, owner, conversation, "plain")).json()

    added = await api.patch(
        f"{path}/{message['id']}", json={"content": "now @ann"}, headers=owner.headers
    )
    assert added.status_code == 200, added.text
    assert added.json()["mentions"] == [ann.id]
    assert [n["message_id"] for n in (await feed(api, ann))["items"]] == [message["id"]]
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 1

    moved = await api.patch(
        f"{path}/{message['id']}", json={"content": "now @bob"}, headers=owner.headers
    )
    assert moved.json()["mentions"] == [bob.id]
    assert (await feed(api, ann))["items"] == []
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 0
    assert [n["excerpt"] for n in (await feed(api, bob))["items"]] == ["now @bob"]

    deleted = await api.delete(f"{path}/{message['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert (await feed(api, bob))["items"] == []
    assert (await conversation_of(api, bob, conversation))["unread_mention_count"] == 0
    gone = await api.get(f"{path}/{message['id']}", headers=owner.headers)
    assert gone.json()["mentions"] == []


async def test_levels_and_reply_notifications(suite: Suite) -> None:
    api = suite.messaging
    owner, ann, bob, carl = await make_tenant(suite.auth, "ann", "bob", "carl")
    conversation = await make_group(api, owner, ann, bob)
    path = f"/v1/conversations/{conversation}/messages"

    muted = await set_level(api, ann, conversation, "none")
    assert muted.status_code == 200, muted.text
    assert muted.json()["notification_level"] == "none"
    assert (await set_level(api, bob, conversation, "mentions")).status_code == 200
    assert (await set_level(api, carl, conversation, "all")).status_code == 404
    assert (await set_level(api, bob, conversation, "loud")).status_code == 422

    by_ann = (await send(api, ann, conversation, "ann's topic")).json()
    by_bob = (await send(api, bob, conversation, "bob's topic")).json()
    by_owner = (await send(api, owner, conversation, "owner's topic")).json()
    # (ann replies first: sending marks the conversation read up to one's own message)
    reply = (await send(api, ann, conversation, "a reply", parent_id=by_owner["id"])).json()
    await send(api, owner, conversation, "@ann @bob replying", parent_id=by_ann["id"])
    await send(api, owner, conversation, "a reply", parent_id=by_bob["id"])
    await send(api, owner, conversation, "my own thread", parent_id=by_owner["id"])

    # `none`: no notifications, but mentions still count as unread.
    assert (await feed(api, ann))["items"] == []
    assert (await conversation_of(api, ann, conversation))["unread_mention_count"] == 1
    # `mentions`: the mention notifies, the reply to bob's message does not.
    assert [n["kind"] for n in (await feed(api, bob))["items"]] == ["mention"]
    # `all` (the default): a reply to one's message notifies; one's own reply does not.
    owners = (await feed(api, owner))["items"]
    assert [(n["kind"], n["message_id"], n["actor_id"]) for n in owners] == [
        ("reply", reply["id"], ann.id)
    ]
    assert (await conversation_of(api, owner, conversation))["notification_level"] == "all"
    assert (await conversation_of(api, bob, conversation))["notification_level"] == "mentions"

    # Deleting the reply withdraws its notification.
    assert (await api.delete(f"{path}/{reply['id']}", headers=ann.headers)).status_code == 204
    assert (await feed(api, owner))["items"] == []


async def test_all_is_rate_limited_per_sender_and_repeats_notify_once(suite: Suite) -> None:
    api = suite.messaging
    owner, ann, bob = await make_tenant(suite.auth, "ann", "bob")
    conversation = await make_group(api, owner, ann, bob)
    other = await make_group(api, owner, ann, title="another")

    broadcasts = [
        (await send(api, owner, (conversation, other)[i % 2], f"@all number {i}")).json()
        for i in range(EVERYONE_PER_WINDOW + 1)
    ]
    first = await send(api, bob, conversation, "@ann once", client_msg_id="retry-1")
    again = await send(api, bob, conversation, "@ann once", client_msg_id="retry-1")

    assert [bool(m["mentions"]) for m in broadcasts] == [True] * EVERYONE_PER_WINDOW + [False]
    # A named mention is no broadcast: it still resolves past the limit.
    late = await send(api, owner, conversation, "@all @bob after the limit")
    assert late.json()["mentions"] == [bob.id]
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["mentions"] == [ann.id]
    ids = [n["message_id"] for n in (await feed(api, ann, limit=100))["items"]]
    assert ids.count(first.json()["id"]) == 1


async def test_feed_pages_through_notifications_of_the_same_millisecond(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    redis = Redis.from_url(stack_urls.redis_url)
    try:
        projection = NotificationProjection(redis, f"{isolation.redis_prefix}messaging:")
        keys = projection.feed_keys("tenant", "user")
        await projection.load(keys, await projection.feed_generation(keys), [])
        for index in range(5):
            await projection.add(keys, f"m-{index}:mention", 1000, {"n": index})
        await projection.add(keys, "m-9:mention", 2000, {"n": 9})
        seen: list[str] = []
        after = None
        for _ in range(6):
            page = await projection.page(keys, unread_only=False, after=after, limit=2)
            assert page is not None
            seen += [entry.id for entry in page.entries]
            if not page.more:
                break
            after = (page.entries[-1].score, page.entries[-1].id)
    finally:
        await redis.aclose()

    assert seen == ["m-9:mention", *(f"m-{i}:mention" for i in range(4, -1, -1))]
