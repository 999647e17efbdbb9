"""Auth running in-process against the real engines, with names only this test uses."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from parley_auth.main import create_app
from parley_auth.settings import AuthSettings
from parley_kit.testing.stack import Isolation, StackUrls


def make_settings(urls: StackUrls, names: Isolation, **overrides: object) -> AuthSettings:
    values: dict[str, object] = {
        "mongo_url": urls.mongo_url,
        "mongo_db": f"{names.mongo_db}_auth",
        "redis_url": urls.redis_url,
        "redis_prefix": names.redis_prefix,
        "kafka_bootstrap": urls.kafka_bootstrap,
        "topic_prefix": names.topic_prefix,
        "kafka_partitions": 1,
        "log_json": False,
    }
    return AuthSettings.model_validate(values | overrides)


@pytest.fixture
async def auth_settings(stack_urls: StackUrls, isolation: Isolation) -> AuthSettings:
    return make_settings(stack_urls, isolation)


@pytest.fixture
async def auth(auth_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(auth_settings)
    async with (
        LifespanManager(app, startup_timeout=60),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as client,
    ):
        yield client
