"""One replicated process suite for the operations tests, on names of its own (a key rotation
must not touch the e2e suite's keys)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from ops.ops_suite import ReplicatedSuite

from parley_kit.testing.plugin import drop_everything
from parley_kit.testing.stack import Isolation, StackUrls, repo_root


@pytest.fixture(scope="session")
async def ops_suite(stack_urls: StackUrls) -> AsyncIterator[ReplicatedSuite]:
    names = Isolation.new()
    suite = ReplicatedSuite(
        stack_urls, names, repo_root() / ".stack" / "logs" / f"ops-{names.name}"
    )
    try:
        await asyncio.to_thread(suite.start_all)
        yield suite
    finally:
        await asyncio.to_thread(suite.stop_all)
        await asyncio.wait_for(drop_everything(stack_urls, names), 60)
