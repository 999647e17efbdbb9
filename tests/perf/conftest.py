"""The smoke test's suite: the four services as processes (the e2e suite's launcher) on free
ports, with names of its own: sharing the e2e suite's names would put both suites' consumers in
the same Kafka groups when `make test` runs them in one session."""

import asyncio
from collections.abc import Iterator

import pytest
from e2e_suite import ProcessSuite

from parley_kit.testing.plugin import drop_everything
from parley_kit.testing.stack import Isolation, StackUrls, repo_root


@pytest.fixture(scope="session")
def bench_suite(stack_urls: StackUrls) -> Iterator[ProcessSuite]:
    names = Isolation.new()
    suite = ProcessSuite(stack_urls, names, repo_root() / ".stack" / "logs" / f"bench-{names.name}")
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()
        asyncio.run(asyncio.wait_for(drop_everything(stack_urls, names), 60))
