"""Admission control for every service: bounded in-flight work, request deadlines, and
dropping the work of a client that has gone.

Backpressure, not queues: beyond `max_in_flight` concurrent requests a process answers at
once with a 503 problem and `Retry-After` instead of queueing, and a request that arrives past
its deadline is refused unprocessed. Queued work is what kept the document store busy for
minutes after a burst, serving clients that had long given up (issue 14). Health, readiness
and metrics are exempt, so a saturated process still reports what it is doing.
"""

import asyncio
import math
import os
import time
from pathlib import Path

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley_kit.deadlines import deadline_in, within
from parley_kit.problems import ServiceUnavailable, problem_response

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
IN_FLIGHT_PER_CORE = 64
# A request still running after this long starts watching for its client leaving (a reader
# task per request costs about half the CPU of a small FastAPI request; most finish sooner).
WATCH_AFTER_SECONDS = 0.05

HTTP_IN_FLIGHT = Gauge(
    "parley_http_in_flight",
    "HTTP requests being served now (health, readiness and metrics excluded)",
    ["service"],
    multiprocess_mode="livesum",
)
HTTP_REJECTED = Counter(
    "parley_http_rejected_total",
    "HTTP requests refused unprocessed with 503: at capacity, or past their deadline",
    ["service", "reason"],
)
HTTP_ABANDONED = Counter(
    "parley_http_abandoned_total",
    "HTTP requests whose client disconnected before the answer; their work was cancelled",
    ["service"],
)


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPU cores this process may use: its affinity, capped by a cgroup CPU quota (a container's
    CPU limit, which `os.cpu_count()` does not see)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def _cgroup_quota(cgroup: Path) -> float | None:
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # cgroup v2
    except (OSError, ValueError):
        try:  # cgroup v1
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in {"max", "-1"} or not period.isdigit() or int(period) == 0:
        return None
    try:
        return int(quota) / int(period)
    except ValueError:
        return None


def in_flight_bound(configured: int, cores: int | None = None) -> int:
    """`configured`, or 0 for the default: `IN_FLIGHT_PER_CORE` per usable core. Requests wait
    mostly on I/O, so 64 per core is ample headroom, while a burst can queue at most about
    64 x the service time per core before callers get an immediate 503."""
    if configured > 0:
        return configured
    return IN_FLIGHT_PER_CORE * (cores if cores is not None else usable_cores())


class Admission:
    """Pure ASGI middleware: bound the requests in flight, honour `X-Parley-Deadline`, run each
    request under its deadline (every store call carries the time left as `maxTimeMS`), and
    cancel the work of a request whose client disconnects before it is answered."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_in_flight: int,
        deadline_seconds: float,
        retry_after_seconds: int,
        trust_deadline_header: bool = True,
        exempt_paths: frozenset[str] = EXEMPT_PATHS,
        watch_after: float = WATCH_AFTER_SECONDS,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.service = service
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._budget = deadline_seconds
        self._retry_after = retry_after_seconds
        self._trust_header = trust_deadline_header
        self._exempt = exempt_paths
        self._watch_after = watch_after
        self._gauge = HTTP_IN_FLIGHT.labels(service)
        self._at_capacity = HTTP_REJECTED.labels(service, "capacity")
        self._past_deadline = HTTP_REJECTED.labels(service, "deadline")
        self._abandoned = HTTP_ABANDONED.labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self._at_capacity.inc()
            await self._refuse(scope, receive, send, "the service is at capacity; retry shortly")
            return
        now = time.time()
        deadline = now + self._budget
        if self._trust_header:
            asked = deadline_in(scope.get("headers") or [])
            if asked is not None:
                if asked <= now:
                    # Its caller has given up: doing the work now would only compete with
                    # requests that can still be answered in time.
                    self._past_deadline.inc()
                    await self._refuse(
                        scope, receive, send, "the request's deadline passed before it was served"
                    )
                    return
                deadline = min(deadline, asked)
        self.in_flight += 1
        self._gauge.inc()
        try:
            with within(deadline):
                await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._gauge.dec()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        refusal = ServiceUnavailable(detail, retry_after=self._retry_after)
        response = problem_response(refusal.problem(scope.get("path")), refusal.headers)
        await response(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; cancel it if its client disconnects before the answer."""
        client_gone = asyncio.timeout(None)
        connection = _Connection(receive, send, client_gone, self._abandoned)
        loop = asyncio.get_running_loop()
        try:
            async with client_gone:
                connection.watch_later(loop, self._watch_after)
                try:
                    await self.app(scope, connection.receive, connection.send)
                finally:
                    connection.close()
        except TimeoutError:
            if not client_gone.expired():
                raise
            # The client left before its answer: the work was cancelled, no one is waiting.


class _Connection:
    """The connection of one request, as its app sees it.

    uvicorn reports a disconnect only to a `receive()` call, and an app busy with a store call
    is not calling it. So a request still running after `watch_after` gets a reader of its own
    that reads on (the rest of the body goes to the app through a one-slot inbox) and cancels
    the request when the client disconnects before the answer. Requests answered sooner, the
    common case, never pay for a reader task.
    """

    def __init__(
        self, receive: Receive, send: Send, client_gone: asyncio.Timeout, abandoned: Counter
    ) -> None:
        self._receive = receive
        self._send = send
        self._client_gone = client_gone
        self._abandoned = abandoned
        self._answered = False
        self._app_reading = False
        self._inbox: asyncio.Queue[Message | Exception] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._after = 0.0

    def watch_later(self, loop: asyncio.AbstractEventLoop, after: float) -> None:
        self._loop, self._after = loop, after
        self._timer = loop.call_later(after, self._watch)

    def _watch(self) -> None:
        if self._answered or self._loop is None:
            return
        if self._app_reading:  # the app is reading the connection itself; look again later
            self._timer = self._loop.call_later(self._after, self._watch)
            return
        self._inbox = asyncio.Queue(maxsize=1)
        self._reader = self._loop.create_task(self._read(self._inbox))

    async def _read(self, inbox: "asyncio.Queue[Message | Exception]") -> None:
        while True:
            try:
                message = await self._receive()
            except Exception as exc:  # e.g. the body limit: the app meets it on receive()
                await inbox.put(exc)
                return
            if message["type"] == "http.disconnect":
                if not self._answered:  # after the answer, a disconnect is just the end
                    self._abandoned.inc()
                    self._client_gone.reschedule(asyncio.get_running_loop().time())
                await inbox.put(message)
                return
            await inbox.put(message)

    async def receive(self) -> Message:
        if self._inbox is None:
            self._app_reading = True
            try:
                return await self._receive()
            finally:
                self._app_reading = False
        item = await self._inbox.get()
        if isinstance(item, Exception):
            raise item
        if item["type"] == "http.disconnect":
            self._inbox.put_nowait(item)  # every later receive() sees the disconnect too
        return item

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._answered = True
        await self._send(message)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._reader is not None:
            self._reader.cancel()
