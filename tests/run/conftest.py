"""Suites started as `make run` starts them (`deploy/run/suite.py run`), each on free ports with
names of its own, on the engines of the test session. A suite a test leaves running is killed
at teardown (its services die with the supervisor) and its names are dropped."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from run.suite_under_test import SharedSuite, SuiteMaker

from parley_kit.testing.stack import StackUrls


@pytest.fixture
async def new_suite(stack_urls: StackUrls, tmp_path: Path) -> AsyncIterator[SuiteMaker]:
    maker = SuiteMaker(stack_urls, tmp_path)
    yield maker
    await maker.clean_up()


@pytest.fixture(scope="module")
async def shared_suite(
    stack_urls: StackUrls, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SharedSuite]:
    maker = SuiteMaker(stack_urls, tmp_path_factory.mktemp("shared-suite"))
    yield SharedSuite(maker)
    await maker.clean_up()
