"""Nothing on the hot path scans a growing collection.

FerretDB pushes a filter down only when it is exactly `{_id: value}`; any other filter or sort
reads the whole collection. With 20,000 messages stored, a send, a reply, a reaction, the
newest page, a message, a membership check, creating a conversation, an edit and its history,
pinning, the pins and deleting a pinned message must reach the store only by `_id` (or touch
the outbox and its lease, which stay small), so a slow query cannot creep back onto the hot
path unnoticed.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from messaging_factories import make_group, make_tenant, send
from messaging_suite import messaging_settings
from pymongo import AsyncMongoClient, monitoring
from redis.asyncio import Redis

from parley_kit.testing.stack import Isolation, StackUrls
from parley_messaging.main import create_app
from parley_messaging.models import MessageRecord, message_id

pytestmark = pytest.mark.integration

SEEDED = 20_000
BOUNDED = {"outbox", "outbox_lease"}  # emptied as they are read: never large
CRUD = {"find", "insert", "update", "delete", "aggregate", "count", "distinct", "findAndModify"}


@dataclass
class CommandLog(monitoring.CommandListener):
    commands: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in CRUD:
            self.commands.append((name, str(event.command[name]), dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def by_id_only(query: Mapping[str, Any] | None) -> bool:
    """A filter that is exactly `{_id: <value>}` (not an operator such as `$in`)."""
    return (
        query is not None
        and set(query) == {"_id"}
        and not (isinstance(query["_id"], Mapping) and any(k.startswith("$") for k in query["_id"]))
    )


def scans(commands: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Each command that may read more than one document of a growing collection."""
    found = []
    for name, collection, command in commands:
        if collection in BOUNDED or name == "insert":
            continue
        if name == "find" and by_id_only(command.get("filter")) and "sort" not in command:
            continue
        if name == "delete" and all(by_id_only(d.get("q")) for d in command["deletes"]):
            continue
        if name == "update" and all(by_id_only(u.get("q")) for u in command["updates"]):
            continue
        found.append(f"{name} {collection} {command.get('filter') or command}")
    return found


async def seed_messages(mongo_url: str, database: str, tenant_id: str, conversation: str) -> None:
    sender = "seeded-sender"
    now = datetime.now(UTC)
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    try:
        documents = [
            MessageRecord(
                id=message_id(conversation, seq),
                tenant_id=tenant_id,
                conversation_id=conversation,
                seq=seq,
                sender_id=sender,
                content=f"seeded message {seq}",
                created_at=now,
            ).model_dump(by_alias=True)
            for seq in range(1, SEEDED + 1)
        ]
        for start in range(0, SEEDED, 1000):
            await client[database]["messages"].insert_many(documents[start : start + 1000])
    finally:
        await client.close()


async def forget_projection(redis_url: str, prefix: str, conversation: str) -> None:
    """As if Redis had lost the conversation: the next calls rebuild it from the store."""
    redis = Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}messaging:c:*{conversation}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_send_and_newest_page_touch_the_store_only_by_id(
    stack_urls: StackUrls, isolation: Isolation, auth_url: str
) -> None:
    log = CommandLog()
    settings = messaging_settings(stack_urls, isolation, auth_url)
    app = create_app(settings, mongo_listeners=[log])
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as api,
        httpx.AsyncClient(base_url=auth_url) as auth,
    ):
        owner, ann = await make_tenant(auth, "ann")
        conversation = await make_group(api, owner, ann)
        await seed_messages(settings.mongo_url, settings.mongo_db, owner.tenant_id, conversation)
        await forget_projection(settings.redis_url, settings.redis_prefix, conversation)
        path = f"/v1/conversations/{conversation}/messages"
        # Warm: the first calls find the highest seq (by `_id` probes) and load the projection.
        first = await send(api, owner, conversation, "first after seeding")
        await api.get(path, headers=ann.headers)

        log.commands.clear()
        sent = await send(api, ann, conversation, "on the hot path")
        page = await api.get(path, headers=owner.headers)
        reply = await send(api, owner, conversation, "a reply", parent_id=first.json()["id"])
        reacted = await api.put(f"{path}/{first.json()['id']}/reactions/ok", headers=ann.headers)
        other = await make_group(api, owner, ann, title="another")
        in_other = await send(api, owner, other, "first in another")
        assert sent.status_code == 201, sent.text
        one = await api.get(f"{path}/{sent.json()['id']}", headers=owner.headers)
        message = f"{path}/{sent.json()['id']}"
        edited = await api.patch(message, json={"content": "edited"}, headers=ann.headers)
        edits = await api.get(f"{message}/edits", headers=owner.headers)
        pinned = await api.put(f"{message}/pin", headers=owner.headers)
        pins = await api.get(f"/v1/conversations/{conversation}/pins", headers=ann.headers)
        unpinned = await api.delete(f"{message}/pin", headers=owner.headers)
        await api.put(f"{message}/pin", headers=owner.headers)
        deleted = await api.delete(message, headers=ann.headers)
        hot = list(log.commands)

    assert first.json()["seq"] == SEEDED + 1
    assert sent.json()["seq"] == SEEDED + 2
    assert [m["seq"] for m in page.json()["items"][:2]] == [SEEDED + 2, SEEDED + 1]
    assert one.status_code == 200
    assert reply.json()["seq"] == SEEDED + 3
    assert reacted.json()["reactions"] == {"ok": [ann.id]}
    assert in_other.json()["seq"] == 1
    assert edited.json()["edit_count"] == 1
    assert [v["content"] for v in edits.json()["items"]] == ["on the hot path"]
    assert pinned.json()["pinned_by"] == owner.id
    assert [m["id"] for m in pins.json()["items"]] == [sent.json()["id"]]
    assert unpinned.json()["pinned_at"] is None
    assert deleted.status_code == 204
    assert {"message_versions", "pin_boards"} <= {coll for _, coll, _ in hot}
    assert any(name == "insert" and coll == "messages" for name, coll, _ in hot)
    assert scans(hot) == []


def test_the_scan_detector_flags_filtered_and_sorted_queries() -> None:
    flagged = scans(
        [
            ("find", "messages", {"filter": {"_id": "c-1"}}),
            ("find", "messages", {"filter": {"_id": "c-1", "tenant_id": "t"}}),
            ("find", "messages", {"filter": {"_id": {"$in": ["c-1", "c-2"]}}}),
            ("find", "messages", {"filter": {"conversation_id": "c"}, "sort": {"seq": -1}}),
            ("find", "outbox", {"filter": {}}),
            ("delete", "reactions", {"deletes": [{"q": {"_id": "r"}}]}),
            ("update", "members", {"updates": [{"q": {"user_id": "u"}}]}),
        ]
    )
    assert len(flagged) == 4


async def test_mentions_feed_and_levels_touch_the_store_only_by_id(
    stack_urls: StackUrls, isolation: Isolation, auth_url: str
) -> None:
    log = CommandLog()
    settings = messaging_settings(stack_urls, isolation, auth_url)
    app = create_app(settings, mongo_listeners=[log])
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as api,
        httpx.AsyncClient(base_url=auth_url) as auth,
    ):
        owner, ann, bob = await make_tenant(auth, "ann", "bob")
        conversation = await make_group(api, owner, ann, bob)
        path = f"/v1/conversations/{conversation}/messages"
        topic = await send(api, ann, conversation, "a topic")
        await send(api, owner, conversation, "@ann warming the username cache")

        log.commands.clear()
        # A user who was never notified reads an empty feed without a scan (one `_id` lookup).
        empty = await api.get("/v1/me/notifications", headers=bob.headers)
        mention = await send(api, owner, conversation, "@ann @bob look")
        reply = await send(api, owner, conversation, "a reply", parent_id=topic.json()["id"])
        feed = await api.get("/v1/me/notifications", headers=ann.headers)
        viewed = await api.get(f"/v1/conversations/{conversation}", headers=ann.headers)
        read = await api.post("/v1/me/notifications/read", json={"all": True}, headers=ann.headers)
        level = await api.put(
            f"/v1/conversations/{conversation}/notifications",
            json={"level": "mentions"},
            headers=bob.headers,
        )
        edited = await api.patch(
            f"{path}/{mention.json()['id']}", json={"content": "@bob look"}, headers=owner.headers
        )
        deleted = await api.delete(f"{path}/{reply.json()['id']}", headers=owner.headers)
        hot = list(log.commands)

    assert empty.json()["items"] == []
    assert mention.json()["mentions"] == sorted([ann.id, bob.id])
    assert [n["kind"] for n in feed.json()["items"]] == ["reply", "mention", "mention"]
    assert viewed.json()["unread_mention_count"] == 2
    assert read.json() == {"unread_count": 0}
    assert level.json()["notification_level"] == "mentions"
    assert edited.json()["mentions"] == [bob.id]
    assert deleted.status_code == 204
    assert any(name == "insert" and coll == "notifications" for name, coll, _ in hot)
    assert scans(hot) == []
