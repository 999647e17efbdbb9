"""Auth running in-process against the real engines, with names only this test uses."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from auth_factories import make_settings

from parley_auth.main import create_app
from parley_auth.settings import AuthSettings
from parley_kit.testing.stack import Isolation, StackUrls


@pytest.fixture
async def auth_settings(stack_urls: StackUrls, isolation: Isolation) -> AuthSettings:
    return make_settings(stack_urls, isolation)


@pytest.fixture
async def auth(auth_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(auth_settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as client,
    ):
        yield client
