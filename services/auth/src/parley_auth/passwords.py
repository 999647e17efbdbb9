"""Password hashing with argon2id, off the event loop and bounded.

Hashes run in a small thread pool (argon2-cffi releases the GIL), so a burst of logins never
stalls `/me` or the JWKS. Work is bounded overall and per client IP: beyond either bound a
caller gets a fast 503 or 429 with `Retry-After` instead of joining a growing queue. A slot is
held until the hash itself finishes, even when its caller gave up, so the bound is real work.

A dummy hash is verified for unknown users, so a login takes the same time whether or not the
user exists.
"""

import asyncio
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from parley_kit.problems import ServiceUnavailable, TooManyRequests

T = TypeVar("T")

HASHES_IN_FLIGHT = Gauge("parley_auth_password_hashes_in_flight", "Hashes running or queued")
HASHES_REFUSED = MetricCounter(
    "parley_auth_password_hashes_refused_total", "Hashes refused at capacity", ["bound"]
)


class PasswordHashing:
    def __init__(
        self,
        *,
        workers: int,
        in_flight: int,
        per_client: int,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("parley-dummy-password-for-timing")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._limit = in_flight
        self._per_client = per_client
        self._running = 0
        self._by_client: Counter[str] = Counter()

    async def hash(self, password: str, client: str) -> str:
        return await self._run(client, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str, client: str) -> bool:
        return await self._run(client, self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, client: str, work: Callable[..., T], *args: str | None) -> T:
        # Check and take the slot with no await in between: atomic on the event loop.
        if self._running >= self._limit:
            HASHES_REFUSED.labels("service").inc()
            raise ServiceUnavailable("password hashing is at capacity; retry", retry_after=1)
        if self._by_client[client] >= self._per_client:
            HASHES_REFUSED.labels("client").inc()
            raise TooManyRequests(1, "too many password checks from this address at once")
        self._running += 1
        self._by_client[client] += 1
        HASHES_IN_FLIGHT.inc()
        loop = asyncio.get_running_loop()
        work_done = self._pool.submit(work, *args)
        # Released when the thread is done (or the queued work was cancelled), not when the
        # caller stops waiting.
        work_done.add_done_callback(lambda _: _call_soon(loop, self._release, client))
        return await asyncio.wrap_future(work_done)

    def _release(self, client: str) -> None:
        self._running -= 1
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]
        HASHES_IN_FLIGHT.dec()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[str], None], arg: str) -> None:
    try:
        loop.call_soon_threadsafe(callback, arg)
    except RuntimeError:
        pass  # the loop is closed: the service is shutting down
