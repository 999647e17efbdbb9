"""Searching messages for one caller: their tenant, their conversations *now*, nothing else."""

from datetime import datetime

from parley_contracts.claims import AccessClaims
from parley_contracts.resources import Message, SearchHit, SearchPage
from parley_search.engine import SearchEngine
from parley_search.membership import Memberships
from parley_search.query import cursor_after, search_body


class SearchService:
    def __init__(self, engine: SearchEngine, memberships: Memberships, alias: str) -> None:
        self._engine = engine
        self._memberships = memberships
        self._alias = alias

    async def search(
        self,
        claims: AccessClaims,
        *,
        q: str,
        conversation_id: str | None,
        sender_id: str | None,
        after: datetime | None,
        before: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> SearchPage:
        mine = await self._memberships.conversations_of(claims.tenant_id, claims.user_id)
        conversations = [c for c in mine if conversation_id is None or c == conversation_id]
        if not conversations:
            return SearchPage(items=[], total=0, next_cursor=None)
        body = search_body(
            q=q,
            tenant_id=claims.tenant_id,
            conversation_ids=conversations,
            sender_id=sender_id,
            after=after,
            before=before,
            cursor=cursor,
            limit=limit,
        )
        result = await self._engine.search(self._alias, body)
        hits = result["hits"]["hits"]
        items = []
        for hit in hits:
            fragments: list[str] = []
            for field in ("content", "content.parts", "content.prefix"):
                for fragment in hit.get("highlight", {}).get(field, []):
                    if fragment not in fragments:
                        fragments.append(fragment)
            items.append(
                SearchHit(
                    message=Message.model_validate(hit["_source"]["message"]),
                    highlights=fragments[:3],
                )
            )
        total = result["hits"]["total"]
        next_cursor = cursor_after(hits[-1]["sort"]) if len(hits) == limit else None
        return SearchPage(
            items=items,
            total=int(total["value"] if isinstance(total, dict) else total),
            next_cursor=next_cursor,
        )
