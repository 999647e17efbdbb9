"""Results on the real engine: cursor paging across both tiers, totals, recency, thread
parents, escaped highlights, and a deployment's index upgraded to the new mapping."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from search_suite import (
    SearchRig,
    identity,
    index_all,
    make_message,
    publish,
    search_page,
    search_settings,
)

from parley_contracts.topics import EventType
from parley_kit.testing.stack import Isolation, StackUrls
from parley_search.engine import connect_engine
from parley_search.index import SCHEMA, alias_name, index_body, version_name
from parley_search.main import create_app
from parley_search.reindex import reindex

pytestmark = pytest.mark.integration

TENANT, USER, CONVERSATION = "tenant-res", "user-res", "conv-res"


async def test_cursor_paging_walks_every_hit_once_in_order_across_tiers(rig: SearchRig) -> None:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    now = datetime.now(UTC)
    strict = [
        make_message(
            TENANT, CONVERSATION, f"paging marker {i}", created_at=now - timedelta(seconds=i)
        )
        for i in range(120)
    ]
    fuzzy = [
        make_message(
            TENANT, CONVERSATION, f"paying marker {i}", created_at=now - timedelta(seconds=i)
        )
        for i in range(9)
    ]
    await index_all(rig, strict + fuzzy, TENANT)

    seen: list[str] = []
    flags: list[bool] = []
    cursor = None
    for _ in range(40):
        params: dict[str, Any] = {"q": "paging marker", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = await search_page(rig, TENANT, USER, **params)
        assert page["total"] == 129
        assert page["total_relation"] == "eq"
        seen += [item["message"]["id"] for item in page["items"]]
        flags.append(page["corrected"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Strict hits first, newest first (equal text scores: the recency decay and the tie break
    # agree), then the fuzzy tier the same way; each exactly once.
    assert seen == [m.id for m in strict] + [m.id for m in fuzzy]
    assert flags[:17] == [False] * 17  # 17 pages of strict hits (119 of them)
    assert all(flags[17:])


async def test_total_is_a_lower_bound_beyond_ten_thousand(rig: SearchRig) -> None:
    """Only the relation is checked with a small corpus: `track_total_hits` is 10,000, so the
    engine answers `eq` here and `gte` beyond (the body is unit-tested)."""
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    await index_all(rig, [make_message(TENANT, CONVERSATION, "counted once")], TENANT)
    page = await search_page(rig, TENANT, USER, q="counted")
    assert (page["total"], page["total_relation"]) == (1, "eq")


async def test_ties_break_newest_first_and_recency_counts(rig: SearchRig) -> None:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    now = datetime.now(UTC)
    old = make_message(TENANT, CONVERSATION, "roadmap draft", created_at=now - timedelta(days=400))
    recent = make_message(
        TENANT, CONVERSATION, "roadmap draft", created_at=now - timedelta(hours=1)
    )
    newest = make_message(TENANT, CONVERSATION, "roadmap draft", created_at=now)
    await index_all(rig, [old, newest, recent], TENANT)

    page = await search_page(rig, TENANT, USER, q="roadmap")
    assert [i["message"]["id"] for i in page["items"]] == [newest.id, recent.id, old.id]


async def test_thread_replies_carry_their_parent(rig: SearchRig) -> None:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    long_text = "kickoff agenda " + "word " * 100
    parent = make_message(TENANT, CONVERSATION, long_text)
    reply = make_message(TENANT, CONVERSATION, "kickoff reply", parent_id=parent.id)
    await index_all(rig, [parent, reply], TENANT)

    page = await search_page(rig, TENANT, USER, q="kickoff")
    by_id = {item["message"]["id"]: item for item in page["items"]}
    assert by_id[parent.id]["parent"] is None
    context = by_id[reply.id]["parent"]
    assert context["id"] == parent.id
    assert long_text.startswith(context["excerpt"].removesuffix("…"))
    assert context["excerpt"].endswith("…")
    assert len(context["excerpt"]) <= 201

    deleted = parent.model_copy(update={"deleted": True, "content": "", "version": 2})
    await publish(rig.producer, rig.topic, EventType.MESSAGE_DELETED, deleted)
    await index_all(rig, [], TENANT)
    page = await search_page(rig, TENANT, USER, q="kickoff")
    assert [(i["message"]["id"], i["parent"]) for i in page["items"]] == [
        (reply.id, {"id": parent.id, "excerpt": None})
    ]


async def test_highlights_escape_markup_and_ampersands_in_both_tiers(rig: SearchRig) -> None:
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    text = "Tom & Jerry <script>alert(1)</script> shipped the newsletter"
    await index_all(rig, [make_message(TENANT, CONVERSATION, text)], TENANT)
    for q in ("newsletter", "newsleter"):  # strict, then fuzzy
        (item,) = (await search_page(rig, TENANT, USER, q=q))["items"]
        joined = " ".join(item["highlights"])
        assert "&amp;" in joined, joined
        assert "&lt;script&gt;" in joined, joined
        assert "<script>" not in joined
        assert "<em>newsletter</em>" in joined
        assert item["message"]["content"] == text


def legacy_body(stack_settings: Any) -> dict[str, Any]:
    """The index as schema 1 created it: without the operator fields or `_meta`."""
    body = index_body(stack_settings)
    mappings = body["mappings"]
    mappings.pop("_meta")
    for name in ("mentions", "has_link", "has_reaction"):
        mappings["properties"].pop(name)
    return body


async def test_a_deployment_on_the_old_mapping_is_upgraded_then_reindexed(
    stack_urls: StackUrls, isolation: Isolation, rig: SearchRig
) -> None:
    settings = search_settings(
        stack_urls,
        isolation,
        rig.messaging_url,
        index_prefix=f"{isolation.index_prefix}legacy-",
        consumer_group=f"{isolation.name}-legacy",
    )
    engine = connect_engine(settings)
    alias = alias_name(settings.index_prefix)
    old_index = version_name(settings.index_prefix, 1)
    rig.messaging.members[(TENANT, USER)] = [CONVERSATION]
    before = make_message(TENANT, CONVERSATION, "see https://example.com/old before the upgrade")
    rig.messaging.messages[before.id] = before
    try:
        await engine.create_index(
            old_index, legacy_body(settings) | {"aliases": {alias: {"is_write_index": True}}}
        )
        # Indexed by the old version: no `has_link` field.
        await engine.bulk(
            [
                {"index": {"_index": alias, "_id": before.id, "routing": TENANT}},
                {
                    "id": before.id,
                    "tenant_id": TENANT,
                    "conversation_id": CONVERSATION,
                    "sender_id": before.sender_id,
                    "seq": before.seq,
                    "version": 1,
                    "deleted": False,
                    "created_at": before.model_dump(mode="json")["created_at"],
                    "content": before.content,
                    "message": before.model_dump(mode="json"),
                },
            ]
        )
        await engine.refresh(alias)

        app = create_app(settings)
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://s"
            ) as client,
        ):
            mapping = (await engine.get_mapping(old_index))[old_index]["mappings"]
            assert mapping["_meta"]["schema"] == SCHEMA
            after = make_message(TENANT, CONVERSATION, "see https://example.com/new after it")
            rig.messaging.messages[after.id] = after
            await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, after)

            async def links() -> set[str]:
                response = await client.get(
                    "/v1/search/messages",
                    params={"q": "has:link"},
                    headers=identity(TENANT, USER),
                )
                assert response.status_code == 200, response.text
                return {i["message"]["id"] for i in response.json()["items"]}

            for _ in range(150):
                if await links() == {after.id}:  # the new document, in the old index
                    break
                await asyncio.sleep(0.1)
            assert await links() == {after.id}

            async with httpx.AsyncClient() as http:
                new_index = await reindex(engine, http, settings)
            assert new_index.endswith("-v2")
            assert await links() == {before.id, after.id}  # backfilled by the reindex
    finally:
        for name in (old_index, version_name(settings.index_prefix, 2)):
            if await engine.index_exists(name):
                await engine.delete_index(name)
        await engine.close()
