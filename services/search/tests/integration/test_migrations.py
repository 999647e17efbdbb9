"""Search's index migrations with their ledger in the search engine: a fresh deployment gets
the messages index behind its alias; parallel runs (replicas starting together) apply each
step once; a service that only checks refuses while a step is pending."""

import asyncio

import pytest
from search_suite import search_settings

from parley_kit.migrations import MigrationsPending
from parley_kit.testing.stack import Isolation, StackUrls
from parley_search.engine import connect_engine
from parley_search.index import SCHEMA, alias_name
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
