"""Searching messages for one caller: their tenant, their conversations *now*, nothing else.

Operators in `q` only narrow that: names and titles are resolved within the caller's tenant
and conversations, and one that resolves to nothing makes the search match nothing (never an
error that would tell whether a user or a conversation exists).
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import Message, SearchHit, SearchPage, SearchParent
from parley_search.directory import UserDirectory
from parley_search.engine import SearchEngine
from parley_search.membership import Memberships
from parley_search.operators import ParsedQuery
from parley_search.query import (
    FUZZY,
    FUZZY_HIGHLIGHT_FIELDS,
    HIGHLIGHT_FIELDS,
    STRICT,
    Narrowing,
    SearchPosition,
    Tier,
    cursor_after,
    epoch_ms,
    from_epoch_ms,
    has_fuzzy_tier,
    messages_by_id_body,
    read_cursor,
    thread_parents_body,
    tier_body,
)
from parley_search.suggestions import did_you_mean, fold

EXCERPT_CHARS: Final = 200


@dataclass(frozen=True)
class TierResult:
    hits: list[dict[str, Any]]
    total: int
    exact: bool


@dataclass(frozen=True)
class SearchRequest:
    q: str
    parsed: ParsedQuery
    conversation_id: str | None
    sender_id: str | None
    after: datetime | None
    before: datetime | None
    cursor: str | None
    limit: int


def excerpt(content: str) -> str:
    if len(content) <= EXCERPT_CHARS:
        return content
    cut = content[:EXCERPT_CHARS]
    return (cut.rsplit(" ", 1)[0] if " " in cut[EXCERPT_CHARS // 2 :] else cut) + "…"


def highlights(hit: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    fragments: list[str] = []
    for name in fields:
        for fragment in hit.get("highlight", {}).get(name, []):
            if fragment not in fragments:
                fragments.append(fragment)
    return fragments[:3]


def empty_page() -> SearchPage:
    return SearchPage(items=[], total=0, next_cursor=None)


class SearchService:
    def __init__(
        self,
        engine: SearchEngine,
        memberships: Memberships,
        alias: str,
        directory: UserDirectory,
    ) -> None:
        self._engine = engine
        self._memberships = memberships
        self._alias = alias
        self._directory = directory

    async def search(self, claims: AccessClaims, request: SearchRequest) -> SearchPage:
        position = read_cursor(request.cursor) if request.cursor else None
        narrowing = await self._narrowing(claims, request)
        if narrowing is None:
            return empty_page()
        parsed = request.parsed
        # The decay's origin: now on a first page, the first page's on the next ones.
        origin = datetime.now(UTC)
        if position is not None and position.origin is not None:
            origin = from_epoch_ms(position.origin)
        tier: Tier = FUZZY if position is not None and position.tier == FUZZY else STRICT
        # Both tiers at once: the strict one for its hits (none needed once the cursor is in
        # the fuzzy tier, but its total still counts), the fuzzy one to fill the page after.
        strict, fuzzy = await asyncio.gather(
            self._tier(
                parsed,
                narrowing,
                STRICT,
                origin,
                position if tier == STRICT else None,
                request.limit if tier == STRICT else 0,
            ),
            self._tier(
                parsed,
                narrowing,
                FUZZY,
                origin,
                position if tier == FUZZY else None,
                request.limit,
            )
            if has_fuzzy_tier(parsed)
            else _nothing(),
        )
        page = [(STRICT, h) for h in strict.hits] + [(FUZZY, h) for h in fuzzy.hits]
        page = page[: request.limit]
        parents = await self._parents(claims.tenant_id, narrowing, [h for _, h in page])
        items = []
        for hit_tier, hit in page:
            message = Message.model_validate(hit["_source"]["message"])
            fields = FUZZY_HIGHLIGHT_FIELDS if hit_tier == FUZZY else HIGHLIGHT_FIELDS
            items.append(
                SearchHit(
                    message=message,
                    highlights=highlights(hit, fields),
                    parent=parents.get(message.parent_id) if message.parent_id else None,
                )
            )
        next_cursor = None
        if len(page) == request.limit:
            last_tier, last = page[-1]
            next_cursor = cursor_after(last["sort"], tier=last_tier, origin=epoch_ms(origin))
        suggestion = None
        if strict.total == 0 and fuzzy.hits:
            fragments = [
                fragment
                for hit in fuzzy.hits
                for fragment in hit.get("highlight", {}).get("content.exact", [])
            ]
            suggestion = did_you_mean(request.q, parsed, fragments)
        return SearchPage(
            items=items,
            total=strict.total + fuzzy.total,
            total_relation="eq" if strict.exact and fuzzy.exact else "gte",
            corrected=any(t == FUZZY for t, _ in page),
            did_you_mean=suggestion,
            next_cursor=next_cursor,
        )

    async def _narrowing(self, claims: AccessClaims, request: SearchRequest) -> Narrowing | None:
        """The filters of this search, or None when they can match nothing."""
        tenant_id, parsed = claims.tenant_id, request.parsed
        mine = await self._memberships.conversations_of(tenant_id, claims.user_id)
        conversations = [
            c for c in mine if request.conversation_id is None or c == request.conversation_id
        ]
        if parsed.conversations and conversations:
            named = await self._named_conversations(claims, parsed.conversations, mine)
            conversations = [c for c in conversations if c in named]
        if not conversations:
            return None
        senders = mentions = None
        if parsed.senders:
            senders = await self._directory.ids_of(tenant_id, parsed.senders)
            if not senders:
                return None
        if parsed.mentions:
            others = [name for name in parsed.mentions if name.lower() != "me"]
            mentions = await self._directory.ids_of(tenant_id, others) if others else []
            if len(others) < len(parsed.mentions):
                mentions.append(claims.user_id)
            if not mentions:
                return None
        if parsed.since and parsed.until and parsed.since >= parsed.until:
            return None
        thread_parents = None
        if parsed.is_thread:
            result = await self._engine.search(
                self._alias, thread_parents_body(tenant_id, conversations)
            )
            buckets = result.get("aggregations", {}).get("parents", {}).get("buckets", [])
            thread_parents = [str(b["key"]) for b in buckets]
        return Narrowing(
            tenant_id=tenant_id,
            conversation_ids=conversations,
            sender_id=request.sender_id,
            senders=senders,
            mentions=mentions,
            after=request.after,
            before=request.before,
            since=parsed.since,
            until=parsed.until,
            has_link=parsed.has_link,
            has_reaction=parsed.has_reaction,
            thread_parents=thread_parents,
        )

    async def _named_conversations(
        self, claims: AccessClaims, names: list[str], mine: list[str]
    ) -> set[str]:
        """`in:` values as the caller's conversation ids: an id of one of them, or the title
        of any of them (case and accents ignored). Other conversations never resolve."""
        named = {name for name in names if name in mine}
        titles_wanted = {fold(name.strip()) for name in names if name not in mine}
        if titles_wanted:
            titles = await self._memberships.titles_of(claims.tenant_id, claims.user_id)
            named |= {
                cid
                for cid, title in titles.items()
                if title and fold(title.strip()) in titles_wanted
            }
        return named

    async def _tier(
        self,
        parsed: ParsedQuery,
        narrowing: Narrowing,
        tier: Tier,
        origin: datetime,
        after: SearchPosition | None,
        size: int,
    ) -> TierResult:
        body = tier_body(parsed, narrowing, tier=tier, origin=origin, after=after, size=size)
        result = await self._engine.search(self._alias, body)
        total = result["hits"]["total"]
        value = int(total["value"] if isinstance(total, dict) else total)
        exact = not isinstance(total, dict) or total.get("relation", "eq") == "eq"
        return TierResult(hits=list(result["hits"]["hits"]), total=value, exact=exact)

    async def _parents(
        self, tenant_id: str, narrowing: Narrowing, hits: list[dict[str, Any]]
    ) -> dict[str, SearchParent]:
        """The thread parents of the replies among `hits`, in one engine request."""
        wanted = sorted(
            {
                str(h["_source"]["message"]["parent_id"])
                for h in hits
                if h["_source"]["message"].get("parent_id")
            }
        )
        if not wanted:
            return {}
        result = await self._engine.search(
            self._alias, messages_by_id_body(tenant_id, narrowing.conversation_ids, wanted)
        )
        parents = {parent_id: SearchParent(id=parent_id, excerpt=None) for parent_id in wanted}
        for hit in result["hits"]["hits"]:
            parent = Message.model_validate(hit["_source"]["message"])
            if not parent.deleted:
                parents[parent.id] = SearchParent(id=parent.id, excerpt=excerpt(parent.content))
        return parents


async def _nothing() -> TierResult:
    return TierResult(hits=[], total=0, exact=True)
