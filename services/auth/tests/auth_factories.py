"""Plain factories of request bodies for auth tests."""

import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager

from parley_auth.main import create_app
from parley_auth.settings import AuthSettings
from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.testing.stack import Isolation, StackUrls


def tenant_body(slug: str | None = None, username: str = "owner", **extra: Any) -> dict[str, Any]:
    slug = slug or f"t-{uuid.uuid4().hex[:8]}"
    return {
        "name": f"Tenant {slug}",
        "slug": slug,
        "owner": {
            "username": username,
            "email": f"{username}@example.com",
            "password": "owner-pass-1",
        },
    } | extra


def signup_body(tenant: str, username: str, password: str = "member-pass-1") -> dict[str, Any]:
    return {
        "tenant": tenant,
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


def cheap_hasher() -> PasswordHasher:
    """argon2id with the smallest parameters: tests about counting, not about cost."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class CountingHasher(PasswordHasher):
    """Counts the passwords actually checked (from the hashing threads)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self._lock = threading.Lock()
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


class GatedHasher(PasswordHasher):
    """Checks a password only once the test opens the gate, so hashes can be held in flight.
    A gate left closed opens by itself after a while, so a regression fails instead of hanging."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.gate = threading.Event()
        self._changed = threading.Condition()
        self.waiting = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._changed:
            self.waiting += 1
            self._changed.notify_all()
        try:
            if not self.gate.wait(10):
                self.gate.set()
        finally:
            with self._changed:
                self.waiting -= 1
                self._changed.notify_all()
        return super().verify(hash, password)

    def wait_for_waiting(self, count: int) -> bool:
        """Block until `count` checks wait at the gate (call it through `asyncio.to_thread`)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.waiting == count, timeout=30)


def from_address(ip: str, settings: AuthSettings) -> dict[str, str]:
    """Headers of a call the gateway forwards for a client at `ip`."""
    return {
        INTERNAL_TOKEN_HEADER: settings.internal_secret.get_secret_value(),
        "X-Forwarded-For": ip,
    }


def login_body(tenant: str, login: str, password: str) -> dict[str, str]:
    return {"tenant": tenant, "login": login, "password": password}


@asynccontextmanager
async def running_auth(
    settings: AuthSettings, password_hasher: PasswordHasher | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An auth app in-process with its lifespan, and a client of it."""
    app = create_app(settings, password_hasher=password_hasher or cheap_hasher())
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as client,
    ):
        yield client
