"""Search's index migrations with their ledger in the search engine: a fresh deployment gets
the messages index behind its alias; parallel runs (replicas starting together) apply each
step once; a service that only checks refuses while a step is pending."""

import asyncio

import httpx
import pytest
from search_suite import search_settings

from parley_kit.migrations import MigrationsPending
from parley_kit.testing.stack import Isolation, StackUrls
from parley_search.engine import connect_engine
from parley_search.index import SCHEMA, alias_name, apply_live_settings
from parley_search.migrations import MIGRATIONS, EngineLedger, SearchStore

pytestmark = pytest.mark.integration


async def test_parallel_runs_apply_each_step_once_and_leave_the_index_ready(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = search_settings(stack_urls, isolation, "http://127.0.0.1:9")
    engine = connect_engine(settings)
    try:
        ledger = EngineLedger(engine, settings)
        with pytest.raises(MigrationsPending, match="0001-messages-index"):
            await MIGRATIONS.at_start(SearchStore(engine, settings), ledger, "check")
        runs = await asyncio.gather(
            *(
                MIGRATIONS.apply(
                    SearchStore(engine, settings), EngineLedger(engine, settings), poll_seconds=0.05
                )
                for _ in range(3)
            )
        )
        await MIGRATIONS.at_start(SearchStore(engine, settings), ledger, "check")
        aliases = await engine.aliases(alias_name(settings.index_prefix))
        mapping = await engine.get_mapping(alias_name(settings.index_prefix))
    finally:
        await engine.close()

    assert sorted(name for run in runs for name in run) == MIGRATIONS.names
    assert list(aliases) == [f"{settings.index_prefix}parley-messages-v1"]
    (only,) = mapping.values()
    assert only["mappings"]["_meta"]["schema"] == SCHEMA


async def test_a_live_index_takes_the_refresh_interval_configured_now(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    """An index created under an older refresh interval (1 s: every message searchable a
    second late) follows the service's setting from its next start."""
    old = search_settings(stack_urls, isolation, "http://127.0.0.1:9", refresh_interval="1s")
    now = search_settings(stack_urls, isolation, "http://127.0.0.1:9", refresh_interval="250ms")
    engine = connect_engine(old)
    alias = alias_name(old.index_prefix)
    try:
        await MIGRATIONS.apply(SearchStore(engine, old), EngineLedger(engine, old))
        before = await live_refresh_interval(stack_urls, alias)
        await apply_live_settings(engine, now)
        after = await live_refresh_interval(stack_urls, alias)
    finally:
        await engine.close()

    assert before == "1s"
    assert after == "250ms"


async def live_refresh_interval(stack_urls: StackUrls, alias: str) -> str:
    async with httpx.AsyncClient(base_url=stack_urls.elasticsearch_url) as http:
        found = (await http.get(f"/{alias}/_settings")).json()
    (index,) = found.values()
    return str(index["settings"]["index"]["refresh_interval"])
