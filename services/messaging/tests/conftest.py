"""Messaging in-process, with a real auth service on a loopback port (member checks, JWKS)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from messaging_suite import Suite, auth_settings, messaging_settings

from parley_auth.main import create_app as create_auth
from parley_kit.testing.servers import serving
from parley_kit.testing.stack import Isolation, StackUrls
from parley_messaging.main import create_app as create_messaging


@pytest.fixture
async def auth_url(stack_urls: StackUrls, isolation: Isolation) -> AsyncIterator[str]:
    async with serving(create_auth(auth_settings(stack_urls, isolation))) as url:
        yield url


@pytest.fixture
async def suite(stack_urls: StackUrls, isolation: Isolation, auth_url: str) -> AsyncIterator[Suite]:
    settings = messaging_settings(stack_urls, isolation, auth_url)
    app = create_messaging(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(base_url=auth_url) as auth,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://messaging"
        ) as messaging,
    ):
        yield Suite(auth, auth_url, messaging, settings)
