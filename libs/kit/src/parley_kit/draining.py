"""Graceful shutdown: what a service does between SIGTERM and its exit.

1. **Drain** (`drain_seconds`): the listening sockets close at once, so a new connection is
   refused and its client (or load balancer) goes to another replica, while every connection
   already open is still served, each response with `Connection: close`: a kept-alive client
   leaves after its current request instead of having an idle connection closed under a
   request it is sending. Drain callbacks run at its start (the gateway asks its sockets to
   reconnect, to another replica).
2. **In-flight** (`shutdown_grace_seconds`, uvicorn's graceful shutdown): requests still
   running finish; past the bound they are cancelled.
3. **Lifespan shutdown**: the service stops its consumers and outbox relay (events stay in the
   outbox or uncommitted in Kafka until another replica handles them) and closes its clients.

A second SIGTERM or SIGINT skips what is left of the drain. In Kubernetes, `preStop` sleeps
before SIGTERM so the pod leaves the Service endpoints first (docs/operations.md).
With `workers` > 1, uvicorn's worker processes shut down without the drain phase.
"""

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley_kit.logs import get_logger

log = get_logger(__name__)

DrainCallback = Callable[[], Awaitable[None]]


class Drain:
    """Whether this process is draining, and what to do when it starts."""

    def __init__(self) -> None:
        self.started = False
        self._callbacks: list[DrainCallback] = []

    def on_start(self, callback: DrainCallback) -> Callable[[], None]:
        """Run `callback` when draining starts; the returned function unregisters it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def begin(self) -> None:
        if self.started:
            return
        self.started = True
        for callback in list(self._callbacks):
            try:
                await callback()
            except Exception as exc:  # one failing callback must not stop the shutdown
                log.warning("drain callback failed", error=str(exc))


# This process's drain: one server per process receives the signal, and the app it serves
# (built by a factory the server calls) reads it here.
PROCESS_DRAIN = Drain()


class CloseConnectionsWhileDraining:
    """While draining, every response says `Connection: close`."""

    def __init__(self, app: ASGIApp, drain: Drain = PROCESS_DRAIN) -> None:
        self.app = app
        self._drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self._drain.started:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the drain phase before its own graceful shutdown."""

    def __init__(
        self, config: uvicorn.Config, drain_seconds: float, drain: Drain = PROCESS_DRAIN
    ) -> None:
        super().__init__(config)
        self._drain_seconds = drain_seconds
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None
        self._signalled = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_seconds <= 0 or self._loop is None or self._signalled:
            super().handle_exit(sig, frame)  # no drain, or a second signal: shut down now
            return
        self._signalled = True
        self._captured_signals.append(sig)  # re-raised at exit, as uvicorn does
        self._loop.call_soon_threadsafe(self._start_draining)

    def _start_draining(self) -> None:
        if self._draining is not None:
            return
        log.info("draining", seconds=self._drain_seconds)
        for server in self.servers:
            server.close()  # refuse new connections; open ones are still served
        self._draining = asyncio.create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        await self._drain.begin()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(self._drain_seconds)
        self.should_exit = True
