"""Search's index setup as versioned steps (see `parley_kit.migrations`): the messages index
behind its alias, then each in-place mapping upgrade. Append a step, never edit an applied one.

Search has no MongoDB: its ledger is the index `<prefix>parley-migrations` in the search engine
(document `step:<name>` per applied step, and `lock`, created under its id to take the run
lock; a create under an existing id is refused atomically by the engine).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from parley_kit.migrations import Migration, Migrations
from parley_search.engine import SearchEngine
from parley_search.index import alias_name, create_first_version, upgrade_mapping
from parley_search.settings import SearchSettings

LEDGER_INDEX: Final = "parley-migrations"
STEP: Final = "step:"


@dataclass(frozen=True)
class SearchStore:
    engine: SearchEngine
    settings: SearchSettings


async def messages_index(store: SearchStore) -> None:
    await create_first_version(store.engine, store.settings)


async def operator_fields(store: SearchStore) -> None:
    """Schema 2 (`mentions`, `has_link`, `has_reaction`) added to an index of schema 1; a
    no-op on an index created with it. Older messages get the fields from a reindex."""
    await upgrade_mapping(store.engine, alias_name(store.settings.index_prefix))


MIGRATIONS: Migrations[SearchStore] = Migrations(
    "search",
    [
        Migration("0001-messages-index", messages_index),
        Migration("0002-operator-fields", operator_fields),
    ],
)


class EngineLedger:
    """The migrations ledger of one deployment (index prefix) in the search engine."""

    def __init__(self, engine: SearchEngine, settings: SearchSettings) -> None:
        self._engine = engine
        self._index = f"{settings.index_prefix}{LEDGER_INDEX}"
        self._replicas = settings.replicas

    async def _ensure(self) -> None:
        if await self._engine.index_exists(self._index):
            return
        body = {"settings": {"number_of_shards": 1, "number_of_replicas": self._replicas}}
        try:
            await self._engine.create_index(self._index, body)
        except Exception:
            if not await self._engine.index_exists(self._index):  # created meanwhile is fine
                raise

    async def applied(self) -> set[str]:
        await self._ensure()
        found = await self._engine.search(
            self._index, {"query": {"match_all": {}}, "size": 10000, "_source": False}
        )
        ids = (str(hit["_id"]) for hit in found["hits"]["hits"])
        return {id.removeprefix(STEP) for id in ids if id.startswith(STEP)}

    async def record(self, name: str) -> None:
        await self._ensure()
        await self._engine.create_document(
            self._index, f"{STEP}{name}", {"applied_at": datetime.now(UTC).isoformat()}
        )

    async def claim(self, holder: str, lease_seconds: float) -> bool:
        await self._ensure()
        expires = datetime.now(UTC) + timedelta(seconds=lease_seconds)
        lock = {"holder": holder, "expires_at": expires.isoformat()}
        if await self._engine.create_document(self._index, "lock", lock):
            return True
        found = await self._engine.get_document(self._index, "lock")
        if found is not None and datetime.fromisoformat(found["expires_at"]) > datetime.now(UTC):
            return False
        await self._engine.delete_document(self._index, "lock")  # its holder died
        return await self._engine.create_document(self._index, "lock", lock)

    async def renew(self, holder: str, lease_seconds: float) -> None:
        found = await self._engine.get_document(self._index, "lock")
        if found is not None and found["holder"] == holder:
            expires = datetime.now(UTC) + timedelta(seconds=lease_seconds)
            lock = {"holder": holder, "expires_at": expires.isoformat()}
            await self._engine.put_document(self._index, "lock", lock)

    async def release(self, holder: str) -> None:
        found = await self._engine.get_document(self._index, "lock")
        if found is not None and found["holder"] == holder:
            await self._engine.delete_document(self._index, "lock")
