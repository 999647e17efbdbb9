"""Which conversations a user is in *now*, asked of messaging and cached briefly.

Entries are dropped as soon as a `member.added`/`member.removed` event names the user (each
replica reads the conversations topic in a group of its own), so the cache time only matters
if those events are late.
"""

import time

import httpx

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import EventType
from parley_kit.internal import InternalApi

UNAVAILABLE = "cannot check conversation membership right now"


class Memberships:
    def __init__(
        self, http: httpx.AsyncClient, messaging_url: str, secret: str, ttl: float
    ) -> None:
        self._messaging = InternalApi(http, messaging_url, secret, timeout=3.0)
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, list[str]]] = {}

    async def conversations_of(self, tenant_id: str, user_id: str) -> list[str]:
        key = (tenant_id, user_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        body = await self._messaging.get(
            _conversations(tenant_id, user_id), unavailable=UNAVAILABLE
        )
        ids = [str(i) for i in body["conversation_ids"]]
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self._ttl, ids)
        return ids

    async def titles_of(self, tenant_id: str, user_id: str) -> dict[str, str | None]:
        """The caller's conversations now, with their titles (for `in:<title>`; not cached:
        titles change, and only a search naming a title asks)."""
        body = await self._messaging.get(
            _conversations(tenant_id, user_id), params={"titles": "true"}, unavailable=UNAVAILABLE
        )
        titles = body.get("titles") or {}
        return {str(i): titles.get(str(i)) for i in body["conversation_ids"]}

    def forget(self, tenant_id: str, user_ids: list[str]) -> None:
        for user_id in user_ids:
            self._cache.pop((tenant_id, user_id), None)

    async def on_conversation_event(self, body: bytes) -> None:
        try:
            envelope = EventEnvelope.model_validate_json(body)
        except ValueError:
            return
        if envelope.type in {
            EventType.MEMBER_ADDED,
            EventType.MEMBER_REMOVED,
            EventType.CONVERSATION_CREATED,
        }:
            affected = envelope.data.get("affected_user_ids") or [
                m["user_id"] for m in envelope.data.get("members", [])
            ]
            self.forget(envelope.tenant_id, [str(u) for u in affected])


def _conversations(tenant_id: str, user_id: str) -> str:
    return f"/internal/v1/tenants/{tenant_id}/users/{user_id}/conversations"
