"""The Redis projection of each conversation: its seq counter, newest page, reactions, reply
counts, threads, members and read markers, and each user's conversation ids.

The store (MongoDB or FerretDB) holds the truth as documents written by atomic steps (see
`models.py`); Redis holds what is counted, ordered or looked up on every request, changed only
by Lua scripts (`scripts.py`), so concurrent writers never lose an update on either engine.
Anything here can be rebuilt from the store: each part is loaded when missing, guarded by a
generation so a load never overwrites a newer write (see `scripts.py`).

Redis is required for sends and reads: when it is down, calls answer 503 with `Retry-After`
rather than risk a seq, a count or a cached page that is silently wrong.
"""

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.problems import ServiceUnavailable
from parley_messaging.projection import scripts

LOADED_MARK = "_ok"  # the field (or set member) that marks a part as loaded
P = ParamSpec("P")
T = TypeVar("T")
Json = dict[str, Any]


def _redis_required(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except RedisError as exc:
            REDIS_FAILURES.labels("messaging", call.__name__).inc()
            raise ServiceUnavailable(
                "the conversation store is unavailable; retry shortly", retry_after=1
            ) from exc

    guarded.__name__ = call.__name__
    guarded.__doc__ = call.__doc__
    return guarded


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Allocation:
    seq: int
    fresh: bool  # False: the seq an earlier send with the same client id took


@dataclass(frozen=True)
class PageRead:
    stable: int  # highest seq with every seq up to it stored
    window: int  # lowest seq the page holds (seqs below come from the store)
    hole_since_ms: int  # when a missing seq above `stable` was first seen (0: none)
    lo: int
    hi: int
    items: list[Json]  # messages in [max(lo, window), hi], ascending
    decorations: dict[int, tuple[Json, int]] | None  # seq -> (reactions doc, reply count)


@dataclass(frozen=True)
class MemberView:
    member: Json | None  # the caller's entry, None if not a member
    conversation: Json


class ConversationKeys:
    """Key names of one conversation; one hash tag so a cluster keeps them on one slot."""

    def __init__(self, prefix: str, tenant_id: str, conversation_id: str) -> None:
        base = f"{prefix}c:{{{tenant_id}:{conversation_id}}}:"
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id
        self.base = base
        self.seq = base + "seq"
        self.gen = base + "gen"
        self.page = base + "page"
        self.stable = base + "stable"
        self.hole = base + "hole"
        self.rx = base + "rx"
        self.replies = base + "replies"
        self.thread_prefix = base + "thread:"
        self.members = base + "members"
        self.meta = base + "meta"
        self.read = base + "read"

    def idempotency(self, sender_id: str, client_msg_id: str) -> str:
        return f"{self.base}idem:{sender_id}:{client_msg_id}"

    def thread(self, parent_seq: int) -> str:
        return f"{self.thread_prefix}{parent_seq}"


class UserKeys:
    def __init__(self, prefix: str, tenant_id: str, user_id: str) -> None:
        base = f"{prefix}u:{{{tenant_id}:{user_id}}}:"
        self.gen = base + "gen"
        self.conversations = base + "conversations"


class ConversationProjection:
    def __init__(
        self, redis: Redis, prefix: str, *, page_keep: int, idempotency_ttl_seconds: int
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._keep = page_keep
        self._idem_ttl = idempotency_ttl_seconds
        self._allocate = redis.register_script(scripts.ALLOCATE)
        self._seed = redis.register_script(scripts.SEED)
        self._commit = redis.register_script(scripts.COMMIT)
        self._replace = redis.register_script(scripts.REPLACE)
        self._load_page = redis.register_script(scripts.LOAD_PAGE)
        self._read_page = redis.register_script(scripts.READ_PAGE)
        self._decorations = redis.register_script(scripts.DECORATIONS)
        self._react = redis.register_script(scripts.REACT)
        self._load_hash = redis.register_script(scripts.LOAD_HASH_PART)
        self._reply = redis.register_script(scripts.REPLY)
        self._load_replies = redis.register_script(scripts.LOAD_REPLIES)
        self._member_of = redis.register_script(scripts.MEMBER_OF)
        self._members = redis.register_script(scripts.MEMBERS)
        self._member_change = redis.register_script(scripts.MEMBER_CHANGE)
        self._meta_change = redis.register_script(scripts.META_CHANGE)
        self._load_members = redis.register_script(scripts.LOAD_MEMBERS)
        self._set_change = redis.register_script(scripts.SET_CHANGE)
        self._set_read = redis.register_script(scripts.SET_READ)
        self._load_set = redis.register_script(scripts.LOAD_SET)
        self._advance = redis.register_script(scripts.ADVANCE)

    def keys(self, tenant_id: str, conversation_id: str) -> ConversationKeys:
        return ConversationKeys(self._prefix, tenant_id, conversation_id)

    def user_keys(self, tenant_id: str, user_id: str) -> UserKeys:
        return UserKeys(self._prefix, tenant_id, user_id)

    @_redis_required
    async def generation(self, keys: ConversationKeys | UserKeys, part: str) -> str:
        return _text(await self._redis.hget(keys.gen, part)) or "0"

    # --- seqs ------------------------------------------------------------------------------

    @_redis_required
    async def allocate(
        self, keys: ConversationKeys, sender_id: str, client_msg_id: str | None
    ) -> Allocation | None:
        """The next seq (or the one this client id already took); None: the counter must be
        seeded from the store first."""
        idem = keys.idempotency(sender_id, client_msg_id or "")
        seq, state = await self._allocate(
            keys=[keys.seq, idem], args=[self._idem_ttl, "1" if client_msg_id else "0"]
        )
        if int(state) < 0:
            return None
        return Allocation(seq=int(seq), fresh=int(state) == 1)

    @_redis_required
    async def seed(self, keys: ConversationKeys, highest_taken: int) -> None:
        await self._seed(keys=[keys.seq], args=[highest_taken])

    @_redis_required
    async def forget_client_id(self, keys: ConversationKeys, sender_id: str, cmid: str) -> None:
        await self._redis.delete(keys.idempotency(sender_id, cmid))

    @_redis_required
    async def allocated(self, keys: ConversationKeys) -> int | None:
        value = _text(await self._redis.get(keys.seq))
        return int(value) if value is not None else None

    # --- the newest page -------------------------------------------------------------------

    @_redis_required
    async def commit(
        self, keys: ConversationKeys, seq: int, message: Json, sender_id: str
    ) -> tuple[int, int]:
        """Add a stored message (and raise its sender's read marker to it; `sender_id` ''
        for a tombstone); (stable seq or -1 if the page is not loaded, hole since ms)."""
        stable, hole = await self._commit(
            keys=[keys.gen, keys.page, keys.stable, keys.hole, keys.read],
            args=[
                seq,
                json.dumps(message, separators=(",", ":")),
                self._keep,
                _now_ms(),
                sender_id,
            ],
        )
        return int(stable), int(hole)

    @_redis_required
    async def replace(self, keys: ConversationKeys, seq: int, message: Json) -> None:
        await self._replace(
            keys=[keys.gen, keys.page],
            args=[seq, json.dumps(message, separators=(",", ":"))],
        )

    @_redis_required
    async def load_page(
        self, keys: ConversationKeys, generation: str, stable: int, top: int, items: list[Json]
    ) -> bool:
        args: list[Any] = [generation, stable, top, _now_ms()]
        for item in items:
            args += [item["seq"], json.dumps(item, separators=(",", ":"))]
        loaded = await self._load_page(
            keys=[keys.gen, keys.page, keys.stable, keys.hole], args=args
        )
        return bool(loaded)

    @_redis_required
    async def read_page(
        self, keys: ConversationKeys, *, before: int | None, after: int | None, limit: int
    ) -> PageRead | None:
        """None: the page is not loaded."""
        mode, bound = ("after", after) if after is not None else ("before", before or 0)
        raw = await self._read_page(
            keys=[keys.page, keys.stable, keys.hole, keys.rx, keys.replies],
            args=[mode, bound, limit],
        )
        if not int(raw[0]):
            return None
        _, stable, window, hole, lo, hi, decorated, items, rx, replies = raw
        lo, hi = int(lo), int(hi)
        decorations = None
        if int(decorated) == 2:
            decorations = _decorations(list(range(lo, hi + 1)), rx, replies)
        return PageRead(
            stable=int(stable),
            window=int(window),
            hole_since_ms=int(hole),
            lo=lo,
            hi=hi,
            items=[json.loads(item) for item in items],
            decorations=decorations,
        )

    @_redis_required
    async def decorations(
        self, keys: ConversationKeys, seqs: list[int]
    ) -> dict[int, tuple[Json, int]] | None:
        """Reactions and reply counts of these messages; None: not loaded."""
        if not seqs:
            return {}
        raw = await self._decorations(keys=[keys.rx, keys.replies], args=seqs)
        if not int(raw[0]):
            return None
        return _decorations(seqs, raw[1], raw[2])

    # --- reactions and threads -------------------------------------------------------------

    @_redis_required
    async def react(
        self, keys: ConversationKeys, seq: int, emoji: str, user_id: str, present: bool
    ) -> int:
        """The message's reaction version after the change (-1: reactions not loaded)."""
        version = await self._react(
            keys=[keys.gen, keys.rx], args=[seq, emoji, user_id, "1" if present else "0"]
        )
        return int(version)

    @_redis_required
    async def load_reactions(
        self, keys: ConversationKeys, generation: str, by_seq: dict[int, Json]
    ) -> bool:
        args: list[Any] = ["rx", generation]
        for seq, doc in by_seq.items():
            args += [seq, json.dumps(doc, separators=(",", ":"))]
        return bool(await self._load_hash(keys=[keys.gen, keys.rx], args=args))

    @_redis_required
    async def reply(
        self, keys: ConversationKeys, parent_seq: int, reply_seq: int, reply_id: str
    ) -> int:
        count = await self._reply(
            keys=[keys.gen, keys.replies, keys.thread(parent_seq)],
            args=[parent_seq, reply_seq, reply_id],
        )
        return int(count)

    @_redis_required
    async def load_replies(
        self, keys: ConversationKeys, generation: str, replies: list[tuple[int, int, str]]
    ) -> bool:
        args: list[Any] = [generation, keys.thread_prefix]
        for parent_seq, reply_seq, reply_id in replies:
            args += [parent_seq, reply_seq, reply_id]
        loaded = await self._load_replies(keys=[keys.gen, keys.replies], args=args)
        return bool(loaded)

    @_redis_required
    async def thread(
        self, keys: ConversationKeys, parent_seq: int, after_seq: int, limit: int
    ) -> list[int] | None:
        """Seqs of the replies to a message after `after_seq`, oldest first; None: the
        threads are not loaded."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.replies, [LOADED_MARK, str(parent_seq)])
            pipe.zcard(keys.thread(parent_seq))
            pipe.zrangebyscore(
                keys.thread(parent_seq),
                f"({after_seq}",
                "+inf",
                start=0,
                num=limit,
                withscores=True,
            )
            (loaded, count), size, found = await pipe.execute()
        if not loaded or int(count or 0) != size:  # a thread Redis dropped on its own
            return None
        return [int(score) for _, score in found]

    # --- members ---------------------------------------------------------------------------

    @_redis_required
    async def member_of(self, keys: ConversationKeys, user_id: str) -> MemberView | None:
        """None: the members are not loaded."""
        raw = await self._member_of(keys=[keys.members, keys.meta], args=[user_id])
        if not int(raw[0]):
            return None
        member = _text(raw[1])
        return MemberView(
            member=json.loads(member) if member else None, conversation=json.loads(raw[2])
        )

    @_redis_required
    async def members(self, keys: ConversationKeys) -> tuple[Json, dict[str, Json]] | None:
        raw = await self._members(keys=[keys.members, keys.meta])
        if not int(raw[0]):
            return None
        flat = raw[1]
        members = {
            _text(flat[i]) or "": json.loads(flat[i + 1])
            for i in range(0, len(flat), 2)
            if _text(flat[i]) != LOADED_MARK
        }
        return json.loads(raw[2]), members

    @_redis_required
    async def member_changed(
        self, keys: ConversationKeys, user_id: str, member: Json | None
    ) -> None:
        value = json.dumps(member, separators=(",", ":")) if member is not None else ""
        await self._member_change(keys=[keys.gen, keys.members], args=[user_id, value])

    @_redis_required
    async def conversation_changed(self, keys: ConversationKeys, conversation: Json) -> None:
        await self._meta_change(
            keys=[keys.gen, keys.meta],
            args=[json.dumps(conversation, separators=(",", ":"))],
        )

    @_redis_required
    async def load_members(
        self,
        keys: ConversationKeys,
        generation: str,
        conversation: Json,
        members: dict[str, Json],
    ) -> bool:
        args: list[Any] = [generation, json.dumps(conversation, separators=(",", ":"))]
        for user_id, member in members.items():
            args += [user_id, json.dumps(member, separators=(",", ":"))]
        loaded = await self._load_members(keys=[keys.gen, keys.members, keys.meta], args=args)
        return bool(loaded)

    # --- a user's conversations ------------------------------------------------------------

    @_redis_required
    async def conversations_of(self, keys: UserKeys) -> list[str] | None:
        raw = await self._set_read(keys=[keys.conversations])
        if not int(raw[0]):
            return None
        return sorted(v for v in (_text(value) or "" for value in raw[1]) if v != LOADED_MARK)

    @_redis_required
    async def user_joined(self, keys: UserKeys, conversation_id: str, joined: bool) -> None:
        await self._set_change(
            keys=[keys.gen, keys.conversations],
            args=["conversations", conversation_id, "1" if joined else "0"],
        )

    @_redis_required
    async def load_conversations_of(
        self, keys: UserKeys, generation: str, conversation_ids: list[str]
    ) -> bool:
        loaded = await self._load_set(
            keys=[keys.gen, keys.conversations],
            args=["conversations", generation, *conversation_ids],
        )
        return bool(loaded)

    # --- read markers ----------------------------------------------------------------------

    @_redis_required
    async def read_markers(self, keys: ConversationKeys, user_ids: list[str]) -> list[int | None]:
        values = await self._redis.hmget(keys.read, user_ids)
        return [int(v) if v is not None else None for v in values]

    @_redis_required
    async def advance_read(self, keys: ConversationKeys, user_id: str, seq: int) -> int:
        """Raise a user's marker to at least `seq`; the marker after."""
        return int(await self._advance(keys=[keys.read], args=[user_id, seq]))


def _decorations(seqs: list[int], rx: list[Any], replies: list[Any]) -> dict[int, tuple[Json, int]]:
    result: dict[int, tuple[Json, int]] = {}
    for seq, reactions, count in zip(seqs, rx, replies, strict=True):
        doc = json.loads(reactions) if reactions else {"v": 0, "r": {}}
        if not isinstance(doc.get("r"), dict):  # cjson encodes an empty table as {} or []
            doc["r"] = {}
        result[seq] = (doc, int(count) if count else 0)
    return result
