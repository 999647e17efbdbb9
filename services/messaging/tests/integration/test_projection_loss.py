"""Redis may lose any key of the projection on its own (an eviction, a partial restore): each
part then reads as not loaded and is rebuilt from the store, never served empty or wrong."""

from typing import Any

import httpx
import pytest
from messaging_factories import Person, make_group, make_tenant, send
from messaging_suite import Suite
from redis.asyncio import Redis

pytestmark = pytest.mark.integration

PARTS = ["page", "stable", "rx", "replies", "members", "meta", "gen", "seq", "read", "thread:1"]


async def snapshot(api: httpx.AsyncClient, reader: Person, conversation: str) -> dict[str, Any]:
    path = f"/v1/conversations/{conversation}/messages"
    history = (await api.get(path, headers=reader.headers)).json()["items"]
    first = next(m for m in history if m["seq"] == 1)
    replies = (await api.get(f"{path}/{first['id']}/replies", headers=reader.headers)).json()
    listed = (await api.get("/v1/conversations", headers=reader.headers)).json()["items"]
    return {
        "seqs": [m["seq"] for m in history],
        "reactions": first["reactions"],
        "reply_count": first["reply_count"],
        "replies": [m["seq"] for m in replies["items"]],
        "members": sorted(m["user_id"] for m in listed[0]["members"]),
        "conversations": [c["id"] for c in listed],
    }


async def test_each_part_lost_on_its_own_is_rebuilt_from_the_store(suite: Suite) -> None:
    owner, ann, bob = await make_tenant(suite.auth, "ann", "bob")
    conversation = await make_group(suite.messaging, owner, ann, bob)
    api = suite.messaging
    path = f"/v1/conversations/{conversation}/messages"
    first = (await send(api, owner, conversation, "anchor")).json()
    for person in (owner, ann, bob):
        await api.put(f"{path}/{first['id']}/reactions/👍", headers=person.headers)
    await send(api, ann, conversation, "a reply", parent_id=first["id"])
    await send(api, bob, conversation, "another")
    redis = Redis.from_url(suite.settings.redis_url)
    prefix = f"{suite.settings.redis_prefix}messaging:"
    keys = [f"{prefix}c:{{{owner.tenant_id}:{conversation}}}:{part}" for part in PARTS]
    keys.append(f"{prefix}u:{{{owner.tenant_id}:{ann.id}}}:conversations")
    seqs: list[int] = []
    try:
        for key in keys:
            before = await snapshot(api, ann, conversation)
            assert await redis.delete(key) == 1, f"no key {key}"
            after = await snapshot(api, ann, conversation)
            assert after == before, f"after losing {key}"
            sent = await send(api, bob, conversation, f"after losing {key}")
            assert sent.status_code == 201, sent.text
            seqs.append(sent.json()["seq"])
    finally:
        await redis.aclose()

    final = await snapshot(api, ann, conversation)
    assert seqs == list(range(4, 4 + len(keys)))
    assert final["seqs"] == list(range(3 + len(keys), 0, -1))
    assert final["reactions"] == {"👍": [owner.id, ann.id, bob.id]}
    assert final["reply_count"] == 1
    assert final["members"] == sorted([owner.id, ann.id, bob.id])
