"""The indexer: edits, deletes, stale replays, isolation, poison events, outages, reindex."""

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager
from search_suite import SearchRig, identity, make_message, publish, search_settings

from parley_contracts.topics import EventType, dlq
from parley_kit.testing.proxy import TcpProxy
from parley_kit.testing.stack import Isolation, StackUrls
from parley_search.engine import connect_engine
from parley_search.main import create_app
from parley_search.reindex import reindex

pytestmark = pytest.mark.integration


async def hits(client: httpx.AsyncClient, tenant: str, user: str, q: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/search/messages", params={"q": q}, headers=identity(tenant, user)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.1)


async def test_edit_delete_and_stale_replays(rig: SearchRig) -> None:
    rig.messaging.members[("t1", "u1")] = ["c1"]
    v1 = make_message("t1", "c1", "original wording")
    v2 = v1.model_copy(update={"content": "revised phrasing", "version": 2})
    v3 = v2.model_copy(update={"content": "", "deleted": True, "version": 3})

    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, v1)
    await eventually(lambda: _has(rig, "original"))
    await publish(rig.producer, rig.topic, EventType.MESSAGE_UPDATED, v2)
    await eventually(lambda: _has(rig, "revised"))
    assert await hits(rig.client, "t1", "u1", "original") == []

    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, v1)  # a replay
    await publish(rig.producer, rig.topic, EventType.MESSAGE_DELETED, v3)
    await eventually(lambda: _has(rig, "revised", expect=False))
    await publish(rig.producer, rig.topic, EventType.MESSAGE_UPDATED, v2)  # stale after delete
    marker = make_message("t1", "c1", "marker after replays")
    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, marker)
    await eventually(lambda: _has(rig, "marker"))

    assert await hits(rig.client, "t1", "u1", "revised") == []
    assert await hits(rig.client, "t1", "u1", "original") == []


async def _has(rig: SearchRig, q: str, expect: bool = True) -> bool:
    return bool(await hits(rig.client, "t1", "u1", q)) == expect


async def test_no_hits_from_other_tenants_or_other_conversations(rig: SearchRig) -> None:
    rig.messaging.members[("ta", "alice")] = ["shared-id"]
    rig.messaging.members[("tb", "bob")] = ["shared-id"]
    for tenant, conversation in (("ta", "shared-id"), ("tb", "shared-id"), ("ta", "private")):
        message = make_message(tenant, conversation, f"launch codes {tenant} {conversation}")
        await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, message)
    rig.messaging.members[("ta", "carol")] = ["private"]
    await eventually(lambda: _count(rig, "ta", "carol", "launch", 1))

    alice = await hits(rig.client, "ta", "alice", "launch codes")
    bob = await hits(rig.client, "tb", "bob", "launch codes")
    outsider = await hits(rig.client, "ta", "nobody", "launch codes")
    narrowed = await rig.client.get(
        "/v1/search/messages",
        params={"q": "launch", "conversation_id": "private"},
        headers=identity("ta", "alice"),
    )

    assert {(h["message"]["tenant_id"], h["message"]["conversation_id"]) for h in alice} == {
        ("ta", "shared-id")
    }
    assert {(h["message"]["tenant_id"], h["message"]["conversation_id"]) for h in bob} == {
        ("tb", "shared-id")
    }
    assert outsider == []
    assert narrowed.json()["items"] == []


async def _count(rig: SearchRig, tenant: str, user: str, q: str, n: int) -> bool:
    return len(await hits(rig.client, tenant, user, q)) == n


async def test_poison_goes_to_the_dead_letter_topic_and_indexing_continues(rig: SearchRig) -> None:
    rig.messaging.members[("t1", "u1")] = ["c1"]
    await rig.producer.send_and_wait(rig.topic, b"{this is not json", key=b"c1")
    after = make_message("t1", "c1", "after the poison")
    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, after)
    await eventually(lambda: _has(rig, "poison"))

    consumer = AIOKafkaConsumer(
        dlq(rig.topic), bootstrap_servers=rig.settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert record.value == b"{this is not json"
    assert any(name == "error" for name, _ in record.headers)


async def test_nothing_is_lost_while_the_engine_is_down(
    stack_urls: StackUrls, isolation: Isolation, rig: SearchRig
) -> None:
    rig.messaging.members[("t1", "u1")] = ["c1"]
    host, port = stack_urls.elasticsearch_url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    settings = search_settings(
        stack_urls,
        isolation,
        rig.messaging_url,
        elasticsearch_url=f"http://{proxy.address}",
        consumer_group=f"{isolation.name}-outage",
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client,
    ):
        await proxy.cut()
        for i in range(5):
            await publish(
                rig.producer,
                rig.topic,
                EventType.MESSAGE_CREATED,
                make_message("t1", "c1", f"outage {i}"),
            )
        await asyncio.sleep(2)
        not_ready = await client.get("/readyz")
        searched = await client.get(
            "/v1/search/messages", params={"q": "outage"}, headers=identity("t1", "u1")
        )
        await proxy.restore()
        await eventually(lambda: _count_with(client, "outage", 5), timeout=40)
    await proxy.cut()
    assert not_ready.status_code == 503
    # A search meanwhile is a 503 the caller may retry, not a 500.
    assert searched.status_code == 503, searched.text
    assert searched.headers["retry-after"] == "1"
    assert searched.headers["content-type"] == "application/problem+json"


async def _count_with(client: httpx.AsyncClient, q: str, n: int) -> bool:
    return len(await hits(client, "t1", "u1", q)) == n


async def test_reindex_swaps_versions_without_failed_searches(rig: SearchRig) -> None:
    rig.messaging.members[("t1", "u1")] = ["c1"]
    for i in range(30):
        message = make_message("t1", "c1", f"reindexed note {i}")
        rig.messaging.messages[message.id] = message
        await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, message)
    await eventually(lambda: _count(rig, "t1", "u1", "reindexed", 30))
    before = {h["message"]["id"] for h in await hits(rig.client, "t1", "u1", "reindexed")}

    failures = 0
    searches = 0
    done = asyncio.Event()

    async def keep_searching() -> None:
        nonlocal failures, searches
        while not done.is_set():
            response = await rig.client.get(
                "/v1/search/messages",
                params={"q": "reindexed", "limit": 50},
                headers=identity("t1", "u1"),
            )
            searches += 1
            if response.status_code != 200 or len(response.json()["items"]) != 30:
                failures += 1
            await asyncio.sleep(0.02)

    async def searched(count: int) -> None:
        while searches < count:  # noqa: ASYNC110 - polling the searcher's counter
            await asyncio.sleep(0.01)

    searcher = asyncio.create_task(keep_searching())
    # Searches before the reindex starts and after the alias moved, counted rather than timed
    # (a loaded machine searches slowly and a fixed pause saw too few).
    await asyncio.wait_for(searched(3), timeout=30)
    engine = connect_engine(rig.settings)
    try:
        async with httpx.AsyncClient() as http:
            new_index = await reindex(engine, http, rig.settings)
    finally:
        await engine.close()
    await asyncio.wait_for(searched(searches + 3), timeout=30)
    done.set()
    await searcher

    after = {h["message"]["id"] for h in await hits(rig.client, "t1", "u1", "reindexed")}
    assert new_index.endswith("-v2")
    assert searches > 5
    assert failures == 0
    assert after == before
