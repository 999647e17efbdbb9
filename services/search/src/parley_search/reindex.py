"""Rebuild the messages index into a new version and swap the alias, without search downtime.

1. Create `parley-messages-v{n+1}` and fill it from messaging's export (MongoDB is the truth).
2. Point the alias at it in one atomic `_aliases` call (searches never see a missing alias).
3. Export again into the new index: whatever the live indexer wrote into the old version
   during step 1 is current in MongoDB, and external versions make the repeat harmless.
"""

import httpx

from parley_contracts.resources import Message
from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.logs import get_logger
from parley_search.documents import index_operations
from parley_search.engine import SearchEngine
from parley_search.index import alias_name, current_version, index_body, version_name
from parley_search.settings import SearchSettings

log = get_logger(__name__)


async def copy_from_messaging(
    engine: SearchEngine, http: httpx.AsyncClient, settings: SearchSettings, index: str
) -> int:
    headers = {INTERNAL_TOKEN_HEADER: settings.internal_secret.get_secret_value()}
    cursor: str | None = None
    copied = 0
    while True:
        params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
        response = await http.get(
            f"{settings.messaging_url}/internal/v1/messages:export", params=params, headers=headers
        )
        response.raise_for_status()
        page = response.json()
        operations = []
        for item in page["items"]:
            operations += index_operations(index, Message.model_validate(item))
        if operations:
            result = await engine.bulk(operations)
            failed = [
                i["index"]
                for i in result["items"]
                if int(i["index"]["status"]) >= 300 and int(i["index"]["status"]) != 409
            ]
            if failed:
                raise RuntimeError(f"reindex writes refused: {failed[:3]}")
            copied += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return copied


async def reindex(engine: SearchEngine, http: httpx.AsyncClient, settings: SearchSettings) -> str:
    """Build the next index version and make it live; returns its name."""
    alias = alias_name(settings.index_prefix)
    old, version = await current_version(engine, settings)
    new = version_name(settings.index_prefix, version + 1)
    await engine.create_index(new, index_body(settings))
    copied = await copy_from_messaging(engine, http, settings, new)
    await engine.refresh(new)
    await engine.update_aliases(
        [
            {"remove": {"index": old, "alias": alias}},
            {"add": {"index": new, "alias": alias, "is_write_index": True}},
        ]
    )
    caught_up = await copy_from_messaging(engine, http, settings, new)
    log.info("reindexed", old=old, new=new, copied=copied, caught_up=caught_up)
    return new
