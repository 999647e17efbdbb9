"""Messages: seq, idempotency, threads, edits, deletes, reactions, cache coherence."""

import asyncio

import pytest
from messaging_factories import make_group, make_tenant, send
from messaging_suite import Suite

pytestmark = pytest.mark.integration


async def test_concurrent_sends_get_gap_free_seqs(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)

    responses = await asyncio.gather(
        *(
            send(suite.messaging, (owner, ann)[i % 2], conversation, f"message {i}")
            for i in range(50)
        )
    )

    assert [r.status_code for r in responses] == [201] * 50
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 51))


async def test_same_client_msg_id_ten_times_concurrently_yields_one_message(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)

    responses = await asyncio.gather(
        *(
            send(suite.messaging, owner, conversation, "once", client_msg_id="c-1")
            for _ in range(10)
        )
    )
    by_header = await suite.messaging.post(
        f"/v1/conversations/{conversation}/messages",
        json={"content": "once"},
        headers=owner.headers | {"Idempotency-Key": "c-1"},
    )
    history = (
        await suite.messaging.get(
            f"/v1/conversations/{conversation}/messages", headers=owner.headers
        )
    ).json()

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert by_header.status_code == 200
    assert by_header.json()["id"] == responses[0].json()["id"]
    assert [m["seq"] for m in history["items"]] == [1]


async def test_cache_coherence_send_edit_delete(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    path = f"/v1/conversations/{conversation}/messages"

    async def newest() -> dict[str, object]:
        page = (await suite.messaging.get(path, headers=ann.headers)).json()
        item: dict[str, object] = page["items"][0]
        return item

    await send(suite.messaging, owner, conversation, "warm the cache")
    await newest()
    sent = (await send(suite.messaging, owner, conversation, "hello")).json()
    assert (await newest())["content"] == "hello"

    edited = await suite.messaging.patch(
        f"{path}/{sent['id']}", json={"content": "hello, edited"}, headers=owner.headers
    )
    assert edited.status_code == 200
    assert edited.json()["edited_at"] is not None
    assert edited.json()["version"] == 2
    assert (await newest())["content"] == "hello, edited"

    by_other = await suite.messaging.patch(
        f"{path}/{sent['id']}", json={"content": "hijack"}, headers=ann.headers
    )
    assert by_other.status_code == 403

    assert (
        await suite.messaging.delete(f"{path}/{sent['id']}", headers=owner.headers)
    ).status_code == 204
    tombstone = await newest()
    assert tombstone["deleted"] is True
    assert tombstone["content"] == ""
    assert tombstone["seq"] == 2


async def test_history_pages_both_ways_without_gaps(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    for i in range(7):
        await send(suite.messaging, owner, conversation, f"m{i + 1}")
    path = f"/v1/conversations/{conversation}/messages"

    newest = (await suite.messaging.get(path, params={"limit": 3}, headers=ann.headers)).json()
    older = (
        await suite.messaging.get(
            path, params={"limit": 3, "cursor": newest["next_cursor"]}, headers=ann.headers
        )
    ).json()
    gap_fill = (
        await suite.messaging.get(path, params={"after_seq": 4, "limit": 2}, headers=ann.headers)
    ).json()
    rest = (
        await suite.messaging.get(
            path, params={"cursor": gap_fill["next_cursor"]}, headers=ann.headers
        )
    ).json()
    too_big = await suite.messaging.get(path, params={"limit": 101}, headers=ann.headers)

    assert [m["seq"] for m in newest["items"]] == [7, 6, 5]
    assert [m["seq"] for m in older["items"]] == [4, 3, 2]
    assert [m["seq"] for m in gap_fill["items"]] == [5, 6]
    assert [m["seq"] for m in rest["items"]] == [7]
    assert rest["next_cursor"] is None
    assert too_big.status_code == 422


async def test_threads_and_reactions(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    path = f"/v1/conversations/{conversation}/messages"
    root = (await send(suite.messaging, owner, conversation, "root")).json()
    await send(suite.messaging, ann, conversation, "reply 1", parent_id=root["id"])
    reply2 = (
        await send(suite.messaging, owner, conversation, "reply 2", parent_id=root["id"])
    ).json()
    nested = await send(suite.messaging, owner, conversation, "nested", parent_id=reply2["id"])

    replies = (
        await suite.messaging.get(f"{path}/{root['id']}/replies", headers=ann.headers)
    ).json()
    root_now = (await suite.messaging.get(f"{path}/{root['id']}", headers=ann.headers)).json()
    put = await suite.messaging.put(f"{path}/{root['id']}/reactions/👍", headers=ann.headers)
    put_again = await suite.messaging.put(f"{path}/{root['id']}/reactions/👍", headers=ann.headers)
    removed = await suite.messaging.delete(f"{path}/{root['id']}/reactions/👍", headers=ann.headers)
    bad_emoji = await suite.messaging.put(
        f"{path}/{root['id']}/reactions/$where", headers=ann.headers
    )

    assert [m["content"] for m in replies["items"]] == ["reply 1", "reply 2"]
    assert root_now["reply_count"] == 2
    assert nested.status_code == 422
    assert put.json()["reactions"] == {"👍": [ann.id]}
    assert put_again.json()["reactions"] == {"👍": [ann.id]}
    assert put_again.json()["version"] == put.json()["version"], "an idempotent put changes nothing"
    assert removed.json()["reactions"] == {}
    assert bad_emoji.status_code == 422


async def test_message_limits_and_injection_are_422(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    conversation = await make_group(suite.messaging, owner, ann)
    for body in (
        {"content": "   "},
        {"content": "x" * 8001},
        {"content": "x", "metadata": {"$where": "1"}},
        {"content": "x", "metadata": {"blob": "y" * 5000}},
    ):
        response = await suite.messaging.post(
            f"/v1/conversations/{conversation}/messages", json=body, headers=owner.headers
        )
        assert response.status_code == 422, body
