"""Exact counts under parallel clients, through the gateway (issue 14): reactions, member adds,
replies, seqs, refresh-token rotation, and a Redis projection flushed while writes stream in."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import httpx
import pytest
from e2e_factories import PASSWORD, Person, close, crowd_of, tenant_with_owner
from e2e_suite import ProcessSuite
from redis.asyncio import Redis

from parley_client import ParleyClient, RateLimited, Unavailable
from parley_contracts.resources import Message
from parley_kit.testing.stack import Isolation, StackUrls

# `gateway` restarts any service an earlier test killed.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("gateway")]

P = ParamSpec("P")
T = TypeVar("T")
CROWD = 100
EMOJIS = ("👍", "🎉", "🚀")


@dataclass
class Crowd:
    owner: Person
    users: list[Person]


@pytest.fixture(scope="module")
async def crowd(processes: ProcessSuite) -> AsyncIterator[Crowd]:
    """One tenant with an owner and CROWD members, shared by the tests of this module."""
    gateway = processes.gateway_url
    owner = await tenant_with_owner(gateway)
    users = await crowd_of(gateway, owner, CROWD)
    yield Crowd(owner, users)
    await close(owner, *users)


@dataclass
class Progress:
    """Operations finished so far; each mark is set once that many have finished."""

    marks: dict[int, asyncio.Event]
    done: int = 0

    def step(self) -> None:
        self.done += 1
        if self.done in self.marks:
            self.marks[self.done].set()


@dataclass
class Retrying:
    """Calls retried while the platform answers "retry": 503/504, 429 or a dropped connection.
    Sends carry a client_msg_id and reactions are idempotent, so a retry never doubles one."""

    retries: int = 0

    async def __call__(
        self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        for _ in range(100):
            try:
                return await call(*args, **kwargs)
            except (Unavailable, RateLimited, httpx.TransportError):
                self.retries += 1
                await asyncio.sleep(0.05)
        return await call(*args, **kwargs)


async def history(
    client: ParleyClient, conversation_id: str, *, after_seq: int | None = None, limit: int
) -> list[Message]:
    """Every message, following `next_cursor` (newest first; oldest first with after_seq)."""
    listed = await client.list_messages(conversation_id, after_seq=after_seq, limit=limit)
    items = list(listed.items)
    while listed.next_cursor:
        listed = await client.list_messages(conversation_id, cursor=listed.next_cursor, limit=limit)
        items += listed.items
    return items


async def thread_of(client: ParleyClient, conversation_id: str, root: str) -> list[Message]:
    """Every reply under `root`, following `next_cursor`."""
    listed = await client.replies(conversation_id, root, limit=100)
    items = list(listed.items)
    while listed.next_cursor:
        listed = await client.replies(conversation_id, root, cursor=listed.next_cursor, limit=100)
        items += listed.items
    return items


async def test_100_parallel_reactions_then_50_removals_count_exactly(crowd: Crowd) -> None:
    owner, users = crowd.owner, crowd.users
    retrying = Retrying()
    group = await retrying(
        owner.client.create_conversation, "group", [u.user_id for u in users], title="reactions"
    )
    target = await retrying(owner.client.send_message, group.id, "react to me", client_msg_id="t")
    await asyncio.gather(*(retrying(u.client.react, group.id, target.id, "🎉") for u in users))
    reacted = await retrying(owner.client.get_message, group.id, target.id)
    reacted_page = await retrying(history, owner.client, group.id, limit=50)
    await asyncio.gather(
        *(retrying(u.client.unreact, group.id, target.id, "🎉") for u in users[:50])
    )
    left = await retrying(owner.client.get_message, group.id, target.id)
    left_page = await retrying(history, owner.client, group.id, limit=50)

    everyone = sorted(u.user_id for u in users)
    assert sorted(reacted.reactions["🎉"]) == everyone
    assert [sorted(m.reactions["🎉"]) for m in reacted_page] == [everyone]
    assert sorted(left.reactions["🎉"]) == sorted(u.user_id for u in users[50:])
    assert [sorted(m.reactions["🎉"]) for m in left_page] == [sorted(left.reactions["🎉"])]


async def test_5_parallel_member_adds_keep_all_5(crowd: Crowd) -> None:
    owner, joining = crowd.owner, crowd.users[:5]
    retrying = Retrying()
    group = await retrying(owner.client.create_conversation, "group", [], title="members")
    await asyncio.gather(
        *(retrying(owner.client.add_members, group.id, [u.user_id]) for u in joining)
    )
    seen = await retrying(owner.client.get_conversation, group.id)
    seen_by_joiners = await asyncio.gather(
        *(retrying(u.client.get_conversation, group.id) for u in joining)
    )

    expected = sorted([owner.user_id, *(u.user_id for u in joining)])
    assert sorted(m.user_id for m in seen.members) == expected
    assert [len(c.members) for c in seen_by_joiners] == [6] * 5


async def test_20_parallel_replies_count_20(crowd: Crowd) -> None:
    owner, repliers = crowd.owner, crowd.users[:20]
    retrying = Retrying()
    group = await retrying(
        owner.client.create_conversation, "group", [u.user_id for u in repliers], title="thread"
    )
    root = await retrying(owner.client.send_message, group.id, "root", client_msg_id="root")
    sent = await asyncio.gather(
        *(
            retrying(
                u.client.send_message,
                group.id,
                f"reply {i}",
                client_msg_id=f"r{i}",
                parent_id=root.id,
            )
            for i, u in enumerate(repliers)
        )
    )
    parent = await retrying(owner.client.get_message, group.id, root.id)
    thread = await retrying(thread_of, owner.client, group.id, root.id)

    assert parent.reply_count == 20
    assert sorted(m.id for m in thread) == sorted(m.id for m in sent)
    assert sorted(m.seq for m in thread) == list(range(2, 22))


async def test_64_parallel_sends_take_seqs_1_to_64(crowd: Crowd) -> None:
    owner, senders = crowd.owner, crowd.users[:16]
    retrying = Retrying()
    group = await retrying(
        owner.client.create_conversation, "group", [u.user_id for u in senders], title="seqs"
    )
    sent = await asyncio.gather(
        *(
            retrying(u.client.send_message, group.id, f"m{k}", client_msg_id=f"c{k}")
            for k, u in zip(range(64), itertools.cycle(senders), strict=False)
        )
    )
    newest_first = await retrying(history, owner.client, group.id, limit=10)
    oldest_first = await retrying(history, owner.client, group.id, after_seq=0, limit=10)

    assert sorted(m.seq for m in sent) == list(range(1, 65))
    by_seq = {m.seq: m.content for m in sent}
    assert [(m.seq, m.content) for m in reversed(newest_first)] == sorted(by_seq.items())
    assert [(m.seq, m.content) for m in oldest_first] == sorted(by_seq.items())


async def refreshed(client: ParleyClient, refresh_token: str) -> httpx.Response:
    """A refresh, presented again (the same token) while the answer is a 503/504 "retry"."""
    for _ in range(100):
        answer = await client.raw(
            "POST", "/v1/auth/refresh", json={"refresh_token": refresh_token}, authenticated=False
        )
        if answer.status_code not in (503, 504):
            break
        await asyncio.sleep(0.05)
    return answer


async def test_4_parallel_refreshes_of_one_token_have_one_winner(
    gateway: str, crowd: Crowd
) -> None:
    user = crowd.users[0]
    clients = [ParleyClient(gateway) for _ in range(5)]
    try:
        tokens = await Retrying()(clients[0].login, user.tenant, user.username, PASSWORD)
        answers = await asyncio.gather(*(refreshed(c, tokens.refresh_token) for c in clients[1:]))
        winners = [a.json()["refresh_token"] for a in answers if a.status_code == 200]
        after = [(await refreshed(clients[0], token)).status_code for token in winners]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    assert after == [401]  # the losers presented a spent token: the whole family is revoked


async def _flush_projection(redis: Redis, prefix: str) -> int:
    """Drop this suite's messaging projection (never other suites' keys) with one DEL, so it
    disappears at once as in a FLUSHDB."""
    keys = [key async for key in redis.scan_iter(match=f"{prefix}messaging:*", count=1000)]
    return int(await redis.delete(*keys)) if keys else 0


async def test_projection_flushed_mid_stream_is_rebuilt_exactly(
    crowd: Crowd, stack_urls: StackUrls, session_isolation: Isolation
) -> None:
    owner, senders = crowd.owner, crowd.users[:8]
    ops_each = 16
    retrying = Retrying()
    group = await retrying(
        owner.client.create_conversation, "group", [u.user_id for u in senders], title="flush"
    )
    anchor = await retrying(owner.client.send_message, group.id, "anchor", client_msg_id="anchor")
    acked: dict[str, Message] = {"anchor": anchor}  # content -> acknowledged message
    replies: set[str] = set()
    reactions: dict[str, dict[str, set[str]]] = {}  # message id -> emoji -> users
    total = len(senders) * ops_each
    progress = Progress({total // 3: asyncio.Event(), total * 2 // 3: asyncio.Event()})

    def reacted(message_id: str, emoji: str, user_id: str, present: bool) -> None:
        users = reactions.setdefault(message_id, {}).setdefault(emoji, set())
        (users.add if present else users.discard)(user_id)

    async def stream(index: int, user: Person) -> None:
        client, own = user.client, anchor.id
        for k in range(ops_each):
            if k == 14 and index % 2 == 0:
                await retrying(client.unreact, group.id, anchor.id, "🎉")
                reacted(anchor.id, "🎉", user.user_id, False)
            elif k % 4 == 1:
                emoji = EMOJIS[(k // 4) % 3]
                await retrying(client.react, group.id, anchor.id, emoji)
                reacted(anchor.id, emoji, user.user_id, True)
            elif k % 4 == 2:
                await retrying(client.react, group.id, own, "✅")
                reacted(own, "✅", user.user_id, True)
            else:
                text, parent = f"m-{index}-{k}", anchor.id if k % 4 == 3 else None
                sent = await retrying(
                    client.send_message, group.id, text, client_msg_id=text, parent_id=parent
                )
                acked[text] = sent
                own = sent.id if parent is None else own
                if parent:
                    replies.add(sent.id)
            progress.step()

    async def flush_twice() -> list[int]:
        redis = Redis.from_url(stack_urls.redis_url)
        flushed = []
        try:
            for reached in progress.marks.values():
                await reached.wait()
                flushed.append(await _flush_projection(redis, session_isolation.redis_prefix))
        finally:
            await redis.aclose()
        return flushed

    async with asyncio.TaskGroup() as running:  # a failing stream cancels the rest
        for i, u in enumerate(senders):
            running.create_task(stream(i, u))
        flushing = running.create_task(flush_twice())
    flushed = flushing.result()
    stored = await retrying(history, owner.client, group.id, after_seq=0, limit=100)
    thread = await retrying(thread_of, owner.client, group.id, anchor.id)
    shown_anchor = await retrying(owner.client.get_message, group.id, anchor.id)
    after = await retrying(owner.client.send_message, group.id, "after", client_msg_id="after")

    live = [m for m in stored if not m.deleted]
    tombstones = [m.seq for m in stored if m.deleted]
    count = len(acked)
    assert all(n > 0 for n in flushed)
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    assert sorted(m.content for m in live) == sorted(acked)  # each acknowledged message once
    assert {m.content: m.seq for m in live} == {c: m.seq for c, m in acked.items()}
    assert (len(stored), tombstones) == (count, []), f"{retrying.retries} retries"
    assert after.seq == len(stored) + 1
    assert shown_anchor.reply_count == len(replies)
    assert sorted(m.id for m in thread) == sorted(replies)
    expected = {
        mid: {e: sorted(u) for e, u in by_emoji.items() if u} for mid, by_emoji in reactions.items()
    }
    assert {e: sorted(u) for e, u in shown_anchor.reactions.items()} == expected[anchor.id]
    assert {m.id: {e: sorted(u) for e, u in m.reactions.items()} for m in live if m.reactions} == {
        mid: by_emoji for mid, by_emoji in expected.items() if by_emoji
    }
