"""MongoDB through Beanie, with every query scoped to one tenant by one helper.

Repositories never call `Model.find(...)` directly: they call `TenantScope(tenant_id)` methods,
which always add `tenant_id` to the filter. `parley_kit.lint.unscoped_queries` fails the build
when a service's code calls a Beanie query method on a document class anywhere else.
"""

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pymongo
from beanie import Document, init_beanie
from beanie.odm.queries.find import FindMany, FindOne
from pymongo import AsyncMongoClient, ReturnDocument, monitoring
from pymongo.asynchronous.collection import AsyncCollection

from parley_kit.group_commit import GroupCommit

D = TypeVar("D", bound=Document)


# How long an operation waits for a store it cannot reach before failing (a 503 to callers).
SERVER_SELECTION_TIMEOUT_MS = 2000


class StoreClient(AsyncMongoClient[Any]):
    """A client whose operations wait for an unreachable store at most its
    `serverSelectionTimeoutMS`, also inside a `pymongo.timeout()` block.

    Every request runs under `pymongo.timeout(<time left>)` (see `parley_kit.deadlines`), and
    pymongo then waits for a server for the whole time left: with the store down, each call
    hung for the request's full deadline (~10 s) before failing, holding its admission slot
    meanwhile. The timeout specification bounds that wait by min(serverSelectionTimeoutMS,
    time left); pymongo 4.x uses the time left alone. So server selection, and only it, runs
    under a nested timeout (nested timeouts only shorten): a request to a store that is down
    fails after `serverSelectionTimeoutMS` with a 503, and the operation itself keeps the
    request's whole deadline.
    """

    async def _select_server(self, *args: Any, **kwargs: Any) -> Any:
        with pymongo.timeout(self.options.server_selection_timeout):
            return await super()._select_server(*args, **kwargs)


async def connect_mongo(
    url: str,
    database: str,
    models: Sequence[type[Document]],
    *,
    timeout_ms: int = 5000,
    selection_timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS,
    event_listeners: Sequence[monitoring._EventListener] = (),
    tls_ca_file: str | None = None,
) -> AsyncMongoClient[Any]:
    """Connect and initialise Beanie. Indexes are not created here: they are versioned
    migrations (`parley_kit.migrations`). `event_listeners` (pymongo command monitoring) let
    tests see every query a service sends. Credentials and TLS come with the URL;
    `tls_ca_file` is the CA that signs the server's certificate."""
    client: AsyncMongoClient[Any] = StoreClient(
        url,
        **mongo_tls_options(tls_ca_file),
        serverSelectionTimeoutMS=selection_timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=list(event_listeners),
    )
    await init_beanie(database=client[database], document_models=list(models), skip_indexes=True)
    return client


def store_client(url: str, tls_ca_file: str | None = None) -> AsyncMongoClient[Any]:
    """A plain client of a service's store, as the service connects (URL, CA file), for the
    command-line steps (migrations, backup) that need no Beanie."""
    return StoreClient(
        url,
        **mongo_tls_options(tls_ca_file),
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        tz_aware=True,
        uuidRepresentation="standard",
    )


def mongo_tls_options(ca_file: str | None) -> dict[str, Any]:
    """pymongo options of a CA file: TLS on, verified against it (none: what the URL says)."""
    return {"tls": True, "tlsCAFile": ca_file} if ca_file else {}


def group_commit(model: type[Document], max_batch: int = 256) -> GroupCommit:
    """The group commit of a model's collection (one per app, built in its lifespan)."""
    return GroupCommit(model.get_pymongo_collection(), max_batch=max_batch)


async def ping(client: AsyncMongoClient[Any]) -> None:
    await client.admin.command("ping")


class TenantScope:
    """Every document query of one tenant. The only place `tenant_id` filters are built."""

    def __init__(self, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a tenant scope needs a tenant id")
        self.tenant_id = tenant_id

    def filter(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A raw filter with the tenant condition; `extra` may not override it."""
        result = dict(extra or {})
        result["tenant_id"] = self.tenant_id
        return result

    def find(self, model: type[D], *conditions: Any, **kwargs: Any) -> FindMany[D]:
        return model.find({"tenant_id": self.tenant_id}, *conditions, **kwargs)

    def find_one(self, model: type[D], *conditions: Any, **kwargs: Any) -> FindOne[D]:
        return model.find_one({"tenant_id": self.tenant_id}, *conditions, **kwargs)

    async def get(self, model: type[D], document_id: Any) -> D | None:
        """A document by id, only if it belongs to this tenant.

        The filter is `_id` alone and the tenant is checked here: FerretDB (SQLite) pushes a
        filter down only when it is exactly `{_id: value}`; any other key scans the collection.
        """
        found: D | None = await model.find_one({"_id": document_id})
        if found is None or getattr(found, "tenant_id", None) != self.tenant_id:
            return None
        return found

    def collection(self, model: type[Document]) -> "ScopedCollection":
        return ScopedCollection(model.get_pymongo_collection(), self)


class ScopedCollection:
    """The raw collection operations Beanie lacks (atomic `$inc` and friends), tenant-scoped."""

    def __init__(self, collection: AsyncCollection[Any], scope: TenantScope) -> None:
        self._collection = collection
        self._scope = scope

    async def by_id(self, document_id: Any) -> dict[str, Any] | None:
        """The raw document with this `_id` if it is this tenant's (an `_id`-only lookup, the
        one query every engine answers from its primary key)."""
        found: dict[str, Any] | None = await self._collection.find_one({"_id": document_id})
        if found is None or found.get("tenant_id") != self._scope.tenant_id:
            return None
        return found

    async def insert(self, document: Mapping[str, Any], via: GroupCommit | None = None) -> None:
        """Insert one document of this tenant (through `via`, batched with concurrent inserts,
        when given); `DuplicateKeyError` when a unique key is taken."""
        if document.get("tenant_id") != self._scope.tenant_id:
            raise ValueError("a document belongs to the tenant of its scope")
        if via is not None:
            await via.insert(dict(document))
        else:
            await self._collection.insert_one(dict(document))

    async def set_by_id(self, document_id: Any, fields: Mapping[str, Any]) -> None:
        """`$set` fields of the document with this `_id` (an `_id`-only filter, see
        `delete_by_id` for what callers pass)."""
        await self._collection.update_one({"_id": document_id}, {"$set": dict(fields)})

    async def delete_by_id(self, document_id: Any) -> bool:
        """Delete the document with this `_id`; False if there was none.

        The filter is `_id` alone (see `TenantScope.get`), so callers pass ids derived from
        keys already checked to be this tenant's (e.g. `<conversation>:<user>` after a
        membership check), never an id taken from a request as it is."""
        result = await self._collection.delete_one({"_id": document_id})
        return bool(result.deleted_count)

    async def replace_by_id(self, document: Mapping[str, Any]) -> None:
        """Write the whole document under its `_id` (insert or overwrite; last writer wins:
        callers serialise writers of one document, see each caller)."""
        if document.get("tenant_id") != self._scope.tenant_id:
            raise ValueError("a document belongs to the tenant of its scope")
        await self._collection.replace_one({"_id": document["_id"]}, dict(document), upsert=True)

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        upsert: bool = False,
        return_after: bool = True,
        projection: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._collection.find_one_and_update(
            self._scope.filter(filter),
            update,
            upsert=upsert,
            projection=projection,
            return_document=ReturnDocument.AFTER if return_after else ReturnDocument.BEFORE,
        )
        return result

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False
    ) -> int:
        result = await self._collection.update_one(
            self._scope.filter(filter), update, upsert=upsert
        )
        return int(result.modified_count) + (1 if result.upserted_id is not None else 0)

    async def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> int:
        result = await self._collection.update_many(self._scope.filter(filter), update)
        return int(result.modified_count)

    async def count(self, filter: Mapping[str, Any]) -> int:
        return int(await self._collection.count_documents(self._scope.filter(filter)))

    async def delete_many(self, filter: Mapping[str, Any]) -> int:
        result = await self._collection.delete_many(self._scope.filter(filter))
        return int(result.deleted_count)
