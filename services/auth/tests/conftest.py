"""Auth running in-process against the real engines, with names only this test uses."""

from collections.abc import AsyncIterator

import httpx
import pytest
from auth_factories import make_settings, running_auth

from parley_auth.settings import AuthSettings
from parley_kit.testing.stack import Isolation, StackUrls


@pytest.fixture
async def auth_settings(stack_urls: StackUrls, isolation: Isolation) -> AuthSettings:
    return make_settings(stack_urls, isolation)


@pytest.fixture
async def auth(auth_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_auth(auth_settings) as client:
        yield client
