"""`python -m parley_search` serves search; `python -m parley_search reindex` rebuilds the
index from messaging into a new version and swaps the alias."""

import asyncio
import sys

import httpx

from parley_kit.app import serve
from parley_search.engine import connect_engine
from parley_search.index import ensure_index
from parley_search.reindex import reindex
from parley_search.settings import SearchSettings


async def run_reindex(settings: SearchSettings) -> str:
    engine = connect_engine(settings)
    try:
        await ensure_index(engine, settings)
        async with httpx.AsyncClient(timeout=30.0) as http:
            return await reindex(engine, http, settings)
    finally:
        await engine.close()


def main(argv: list[str]) -> int:
    settings = SearchSettings()
    if argv[1:] == ["reindex"]:
        print(f"the alias now points at {asyncio.run(run_reindex(settings))}")
        return 0
    if argv[1:]:
        print("usage: python -m parley_search [reindex]", file=sys.stderr)
        return 2
    serve("parley_search.main:create_app", settings, factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
