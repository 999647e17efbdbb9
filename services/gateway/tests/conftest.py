"""The platform behind a gateway, per test, against the real engines."""

from collections.abc import AsyncIterator

import pytest
from gateway_suite import Platform, platform

from parley_kit.testing.stack import Isolation, StackUrls


@pytest.fixture
async def suite(stack_urls: StackUrls, isolation: Isolation) -> AsyncIterator[Platform]:
    async with platform(stack_urls, isolation) as running:
        yield running
