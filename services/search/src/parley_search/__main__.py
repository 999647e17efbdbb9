"""`python -m parley_search` serves search; `python -m parley_search reindex` rebuilds the
index from messaging into a new version and swaps the alias; `python -m parley_search migrate
[--check]` applies (or lists) the index migrations (`parley_search.migrations`)."""

import asyncio
import sys

import httpx

from parley_kit.app import serve
from parley_kit.migrations import cli
from parley_search.engine import connect_engine
from parley_search.migrations import MIGRATIONS, EngineLedger, SearchStore
from parley_search.reindex import reindex
from parley_search.settings import SearchSettings


async def run_reindex(settings: SearchSettings) -> str:
    engine = connect_engine(settings)
    try:
        await MIGRATIONS.at_start(
            SearchStore(engine, settings), EngineLedger(engine, settings), settings.migrations
        )
        async with httpx.AsyncClient(timeout=30.0) as http:
            return await reindex(engine, http, settings)
    finally:
        await engine.close()


async def run_migrate(settings: SearchSettings, argv: list[str]) -> int:
    engine = connect_engine(settings)
    try:
        return await cli(
            MIGRATIONS, SearchStore(engine, settings), EngineLedger(engine, settings), argv
        )
    finally:
        await engine.close()


def main(argv: list[str]) -> int:
    settings = SearchSettings()
    if argv[1:] == ["reindex"]:
        print(f"the alias now points at {asyncio.run(run_reindex(settings))}")
        return 0
    if argv[1:2] == ["migrate"]:
        return asyncio.run(run_migrate(settings, argv[2:]))
    if argv[1:]:
        print("usage: python -m parley_search [reindex | migrate [--check]]", file=sys.stderr)
        return 2
    serve("parley_search.main:create_app", settings, factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
