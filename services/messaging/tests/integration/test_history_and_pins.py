"""Edit history and pins: previous versions by `_id`, pins by conversation admins, the events
they publish, and their state in history pages, the cached page and after Redis lost it."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from messaging_factories import make_group, make_tenant, send
from messaging_suite import Suite
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import MESSAGES, EventType, prefixed
from parley_kit.kafka import ensure_topics
from parley_messaging.domain.pins import MAX_PINS
from parley_messaging.settings import MessagingSettings

pytestmark = pytest.mark.integration

PIN_EVENTS = {EventType.MESSAGE_PINNED, EventType.MESSAGE_UNPINNED}


async def pin_events(settings: MessagingSettings, key: str, count: int) -> list[EventEnvelope]:
    """The pin and unpin events of `key` from the start of the topic: `count` of them, and any
    more that arrive within 1.5 s after."""
    topic = prefixed(settings.topic_prefix, MESSAGES)
    await ensure_topics(settings.kafka_bootstrap, [topic], partitions=settings.kafka_partitions)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[EventEnvelope] = []

    def keep(value: bytes | None) -> None:
        assert value is not None
        envelope = EventEnvelope.model_validate_json(value)
        if envelope.key == key and envelope.type in PIN_EVENTS:
            found.append(envelope)

    try:
        async with asyncio.timeout(60):
            while len(found) < count:
                keep((await consumer.getone()).value)
        for records in (await consumer.getmany(timeout_ms=1500)).values():
            for record in records:
                keep(record.value)
    finally:
        await consumer.stop()
    return found


async def stored_version_ids(settings: MessagingSettings, message_id: str) -> list[str]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongo_url)
    try:
        found = []
        for version in range(1, 5):
            document = await client[settings.mongo_db]["message_versions"].find_one(
                {"_id": f"{message_id}:v{version}"}
            )
            if document is not None:
                found.append(str(document["_id"]))
        return found
    finally:
        await client.close()


async def forget_projection(settings: MessagingSettings, conversation: str) -> None:
    redis = Redis.from_url(settings.redis_url)
    try:
        pattern = f"{settings.redis_prefix}messaging:c:*{conversation}*"
        keys = [k async for k in redis.scan_iter(match=pattern)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_two_edits_keep_two_previous_versions_until_the_message_is_deleted(
    suite: Suite,
) -> None:
    owner, ann, bob = await make_tenant(suite.auth, "ann", "bob")
    (stranger,) = (await make_tenant(suite.auth))[:1]
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    await send(api, ann, conversation, "warm the cached page")
    await api.get(path, headers=owner.headers)
    sent = (await send(api, ann, conversation, "first draft")).json()
    message = f"{path}/{sent['id']}"

    unedited = await api.get(f"{message}/edits", headers=owner.headers)
    await api.patch(message, json={"content": "second draft"}, headers=ann.headers)
    edited = await api.patch(message, json={"content": "final"}, headers=ann.headers)
    edits = await api.get(f"{message}/edits", headers=owner.headers)
    newest = (await api.get(path, headers=owner.headers)).json()["items"][0]
    by_bob = await api.get(f"{message}/edits", headers=bob.headers)
    by_stranger = await api.get(f"{message}/edits", headers=stranger.headers)
    unknown = await api.get(f"{path}/{conversation}-99/edits", headers=owner.headers)
    stored_before = await stored_version_ids(suite.settings, sent["id"])
    deleted = await api.delete(message, headers=ann.headers)
    after_delete = await api.get(f"{message}/edits", headers=owner.headers)
    stored_after = await stored_version_ids(suite.settings, sent["id"])

    assert unedited.json() == {"items": []}
    assert edited.json()["edit_count"] == 2
    assert edited.json()["content"] == "final"
    assert edits.status_code == 200
    items = edits.json()["items"]
    assert [(v["version"], v["content"]) for v in items] == [
        (1, "first draft"),
        (2, "second draft"),
    ]
    assert items[0]["edited_at"] <= items[1]["edited_at"]
    assert (newest["id"], newest["edit_count"]) == (sent["id"], 2)
    assert by_bob.status_code == 404  # not a member of the conversation
    assert by_stranger.status_code == 404
    assert unknown.status_code == 404
    assert stored_before == [f"{sent['id']}:v1", f"{sent['id']}:v2"]
    assert deleted.status_code == 204
    assert after_delete.status_code == 200
    assert after_delete.json() == {"items": []}
    assert stored_after == []


async def test_admins_pin_and_unpin_with_one_event_each(suite: Suite) -> None:
    owner, ann, bob = await make_tenant(suite.auth, "ann", "bob")
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    pins = f"/v1/conversations/{conversation}/pins"
    first, second, third = [
        (await send(api, ann, conversation, f"message {i}")).json() for i in range(3)
    ]
    await api.get(path, headers=ann.headers)  # the newest page is cached from here on

    by_member = await api.put(f"{path}/{first['id']}/pin", headers=ann.headers)
    by_stranger = await api.put(f"{path}/{first['id']}/pin", headers=bob.headers)
    pinned = await api.put(f"{path}/{first['id']}/pin", headers=owner.headers)
    again = await api.put(f"{path}/{first['id']}/pin", headers=owner.headers)
    await api.put(f"{path}/{third['id']}/pin", headers=owner.headers)
    await api.put(f"{path}/{second['id']}/pin", headers=owner.headers)
    listed = await api.get(pins, headers=ann.headers)
    page = (await api.get(path, headers=ann.headers)).json()["items"]
    one = (await api.get(f"{path}/{first['id']}", headers=ann.headers)).json()
    not_listed = await api.get(pins, headers=bob.headers)
    unpinned = await api.delete(f"{path}/{third['id']}/pin", headers=owner.headers)
    unpinned_again = await api.delete(f"{path}/{third['id']}/pin", headers=owner.headers)
    unpin_by_member = await api.delete(f"{path}/{first['id']}/pin", headers=ann.headers)
    after_unpin = await api.get(pins, headers=ann.headers)
    events = await pin_events(suite.settings, conversation, 4)

    assert by_member.status_code == 403
    assert by_stranger.status_code == 404
    assert pinned.status_code == 200
    assert pinned.json()["pinned_by"] == owner.id
    assert pinned.json()["pinned_at"] is not None
    assert pinned.json()["version"] == first["version"] + 1
    assert again.status_code == 200
    assert again.json()["version"] == pinned.json()["version"]  # nothing changed
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["items"]] == [second["id"], third["id"], first["id"]]
    assert {m["id"]: m["pinned_by"] for m in page} == {
        first["id"]: owner.id,
        second["id"]: owner.id,
        third["id"]: owner.id,
    }
    assert one["pinned_at"] is not None
    assert not_listed.status_code == 404
    assert unpinned.status_code == 200
    assert (unpinned.json()["pinned_at"], unpinned.json()["pinned_by"]) == (None, None)
    assert unpinned_again.status_code == 200
    assert unpinned_again.json()["version"] == unpinned.json()["version"]
    assert unpin_by_member.status_code == 403
    assert [m["id"] for m in after_unpin.json()["items"]] == [second["id"], first["id"]]
    assert [(e.type, e.data["id"]) for e in events] == [
        (EventType.MESSAGE_PINNED, first["id"]),
        (EventType.MESSAGE_PINNED, third["id"]),
        (EventType.MESSAGE_PINNED, second["id"]),
        (EventType.MESSAGE_UNPINNED, third["id"]),
    ]
    assert events[0].data["pinned_by"] == owner.id
    assert events[3].data["pinned_at"] is None


async def test_a_deleted_message_leaves_the_pins_and_cannot_be_pinned(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    pins = f"/v1/conversations/{conversation}/pins"
    kept, doomed = [(await send(api, ann, conversation, f"m{i}")).json() for i in range(2)]
    await api.put(f"{path}/{kept['id']}/pin", headers=owner.headers)
    await api.put(f"{path}/{doomed['id']}/pin", headers=owner.headers)
    before = await api.get(pins, headers=ann.headers)

    deleted = await api.delete(f"{path}/{doomed['id']}", headers=ann.headers)
    after = await api.get(pins, headers=ann.headers)
    tombstone = (await api.get(path, headers=ann.headers)).json()["items"][0]
    pin_deleted = await api.put(f"{path}/{doomed['id']}/pin", headers=owner.headers)
    unpin_deleted = await api.delete(f"{path}/{doomed['id']}/pin", headers=owner.headers)

    assert [m["id"] for m in before.json()["items"]] == [doomed["id"], kept["id"]]
    assert deleted.status_code == 204
    assert [m["id"] for m in after.json()["items"]] == [kept["id"]]
    assert (tombstone["id"], tombstone["deleted"], tombstone["pinned_at"]) == (
        doomed["id"],
        True,
        None,
    )
    assert pin_deleted.status_code == 409
    assert unpin_deleted.status_code == 200


async def test_pins_and_edits_survive_redis_losing_the_projection(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    sent = (await send(api, owner, conversation, "draft")).json()
    await api.patch(f"{path}/{sent['id']}", json={"content": "done"}, headers=owner.headers)
    await api.put(f"{path}/{sent['id']}/pin", headers=owner.headers)

    await forget_projection(suite.settings, conversation)
    page = (await api.get(path, headers=ann.headers)).json()["items"]
    synced = (await api.get(path, params={"after_seq": 0}, headers=ann.headers)).json()["items"]
    listed = (await api.get(f"/v1/conversations/{conversation}/pins", headers=ann.headers)).json()

    for item in (page[0], synced[0], listed["items"][0]):
        assert (item["id"], item["edit_count"], item["pinned_by"]) == (sent["id"], 1, owner.id)


async def test_a_conversation_holds_at_most_max_pins(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    ids = [
        (await send(api, owner, conversation, f"m{i}")).json()["id"] for i in range(MAX_PINS + 1)
    ]
    for message_id in ids[:MAX_PINS]:
        assert (await api.put(f"{path}/{message_id}/pin", headers=owner.headers)).status_code == 200

    full = await api.put(f"{path}/{ids[-1]}/pin", headers=owner.headers)
    await api.delete(f"{path}/{ids[0]}/pin", headers=owner.headers)
    room_again = await api.put(f"{path}/{ids[-1]}/pin", headers=owner.headers)
    listed = (await api.get(f"/v1/conversations/{conversation}/pins", headers=ann.headers)).json()

    assert full.status_code == 409
    assert room_again.status_code == 200
    assert len(listed["items"]) == MAX_PINS
    assert listed["items"][0]["id"] == ids[-1]


async def test_concurrent_pins_and_edits_lose_nothing(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    ids = [(await send(api, ann, conversation, f"m{i}")).json()["id"] for i in range(8)]

    pinned = await asyncio.gather(
        *(api.put(f"{path}/{message_id}/pin", headers=owner.headers) for message_id in ids),
        *(api.put(f"{path}/{ids[0]}/pin", headers=owner.headers) for _ in range(4)),
    )
    edited = await asyncio.gather(
        *(
            api.patch(f"{path}/{ids[1]}", json={"content": f"edit {i}"}, headers=ann.headers)
            for i in range(4)
        )
    )
    listed = (await api.get(f"/v1/conversations/{conversation}/pins", headers=ann.headers)).json()
    versions = (await api.get(f"{path}/{ids[1]}/edits", headers=ann.headers)).json()["items"]
    events = await pin_events(suite.settings, conversation, len(ids))

    assert [r.status_code for r in pinned] == [200] * (len(ids) + 4)
    assert sorted(m["id"] for m in listed["items"]) == sorted(ids)
    assert [r.status_code for r in edited] == [200] * 4
    assert max(r.json()["edit_count"] for r in edited) == 4
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert versions[0]["content"] == "m1"
    assert sorted(e.data["id"] for e in events) == sorted(ids)  # one event per message


async def test_edits_embedded_before_the_history_documents_come_first(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    api, path = suite.messaging, f"/v1/conversations/{conversation}/messages"
    sent = (await send(api, owner, conversation, "third text")).json()
    client: AsyncMongoClient[Any] = AsyncMongoClient(suite.settings.mongo_url)
    try:  # as an edit stored it before edit history documents existed
        await client[suite.settings.mongo_db]["messages"].update_one(
            {"_id": sent["id"]},
            {
                "$set": {
                    "edits": [
                        {"content": "first text", "version": 1, "replaced_at": datetime.now(UTC)},
                        {"content": "second text", "version": 2, "replaced_at": datetime.now(UTC)},
                    ]
                }
            },
        )
    finally:
        await client.close()

    before = await api.get(f"{path}/{sent['id']}", headers=ann.headers)
    edited = await api.patch(
        f"{path}/{sent['id']}", json={"content": "fourth text"}, headers=owner.headers
    )
    versions = (await api.get(f"{path}/{sent['id']}/edits", headers=ann.headers)).json()["items"]

    assert before.json()["edit_count"] == 2
    assert edited.json()["edit_count"] == 3
    assert [(v["version"], v["content"]) for v in versions] == [
        (1, "first text"),
        (2, "second text"),
        (3, "third text"),
    ]
