"""The Socket.IO Redis manager that fans emits out to every gateway replica, reconnecting
promptly after Redis restarts.

python-socketio's `AsyncRedisManager` listens on a Redis channel and doubles its pause after
each failed reconnect, up to 60 s. Every emit reaches sockets only through that listener (the
emitting replica hears its own publish too), so after a Redis outage of half a minute the
sockets of every replica stayed deaf for up to a minute more. A reconnect attempt against a
Redis that is down costs one refused connection, so here the listener tries again every
`RECONNECT_SECONDS`.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import socketio

from parley_kit.logs import get_logger

log = get_logger(__name__)

RECONNECT_SECONDS = 0.5


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        """The manager's listener loop with a constant, short pause between reconnects."""
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:  # any failure of the connection: reconnect
                log.warning(
                    "socket fan-out lost Redis; reconnecting",
                    error=str(exc)[:300],
                    delay=RECONNECT_SECONDS,
                )
                with contextlib.suppress(Exception):
                    await self.pubsub.aclose()  # the listener's own connection; emits keep theirs
                await asyncio.sleep(RECONNECT_SECONDS)
