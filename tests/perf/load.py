"""The load generator's side: jobs that run in worker processes and come back as plain data.

A scenario is split into one job per worker process (each with its share of the clients or of
the rate); the coordinator merges what they return. Everything here goes through
`parley_client`, the typed client of the public API, so another implementation of the same API
is measured the same way (`--base`).

Clocks: latencies use `perf_counter`; moments compared across processes (a send in one worker,
its socket delivery in another, the window every worker shares) use `time.time()`, which all
processes of one machine share.
"""

import asyncio
import contextlib
import multiprocessing.synchronize
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from parley_client import ParleyClient, ParleyError, ParleySocket, SocketEvent
from parley_client.errors import error_for
from perf.stats import error_label

T = TypeVar("T")

# Set in each worker process by `worker_started` (a barrier can only reach a process when it is
# created): the fan-out's workers meet on it, so every socket is connected before anyone sends.
_barrier: multiprocessing.synchronize.Barrier | None = None
ERROR_PAUSE = 0.01  # after a failed call, so a client that fails fast does not spin a core
MAX_RETRY_AFTER = 1.0


def pause_after(error: BaseException) -> float:
    """How long a client waits after a failed call: the `Retry-After` of a 429/503 (as a
    well-behaved client would, at most a second), else a token pause."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return min(MAX_RETRY_AFTER, max(ERROR_PAUSE, float(value))) if value else ERROR_PAUSE
    except ValueError:
        return ERROR_PAUSE


def worker_started(barrier: multiprocessing.synchronize.Barrier | None) -> None:
    global _barrier
    _barrier = barrier


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one job on uvloop when it is installed (less CPU per request than asyncio's loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(factory())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(factory())


async def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


# --- closed loop: N clients, each sending its next request when the previous one answered ---


@dataclass(frozen=True)
class ClientPlan:
    """One client (one HTTP connection) acting as these users and conversations in turn;
    several users per client keep each user under the gateway's per-user rate limit."""

    tokens: tuple[str, ...]
    conversation_ids: tuple[str, ...]


@dataclass(frozen=True)
class ClosedLoopJob:
    operation: str  # "send", "history_v1", "history_api", "burst"
    base: str
    start_at: float  # wall clock; every worker starts together
    duration: float
    timeout: float  # client timeout; in a burst, the moment a client gives up
    clients: tuple[ClientPlan, ...]
    tag: str
    page_size: int = 50


@dataclass
class ClosedLoopResult:
    latencies: list[float] = field(default_factory=list)  # successful calls, seconds
    in_window: int = 0  # successful calls that finished before the window closed
    errors: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0  # burst: calls the client abandoned at its timeout
    items: int = 0  # history: items returned, for the average page size
    cpu_seconds: float = 0.0  # this worker's CPU over its job
    wall_seconds: float = 0.0


async def _history_api(client: ParleyClient, conversation_id: str, page_size: int) -> int:
    response = await client.raw(
        "GET",
        f"/api/conversations/{conversation_id}/messages",
        params={"pageNo": 1, "pageSize": page_size},
    )
    if response.status_code >= 400:
        raise error_for(response)
    return len(response.json()["data"])


async def _closed_loop_client(
    job: ClosedLoopJob, index: int, plan: ClientPlan, result: ClosedLoopResult
) -> None:
    end = job.start_at + job.duration
    async with ParleyClient(job.base, timeout=job.timeout) as client:
        await sleep_until(job.start_at)
        turn = 0
        while time.time() < end:
            client.access_token = plan.tokens[turn % len(plan.tokens)]
            conversation_id = plan.conversation_ids[turn % len(plan.conversation_ids)]
            began = time.perf_counter()
            try:
                if job.operation in ("send", "burst"):
                    await client.send_message(conversation_id, f"{job.tag} {index}-{turn}")
                elif job.operation == "history_v1":
                    page = await client.list_messages(conversation_id, limit=job.page_size)
                    result.items += len(page.items)
                elif job.operation == "history_api":
                    result.items += await _history_api(client, conversation_id, job.page_size)
                else:
                    raise ValueError(f"unknown operation {job.operation}")
            except httpx.TimeoutException as exc:
                if job.operation == "burst":
                    result.gave_up += 1
                else:
                    result.errors[error_label(exc)] += 1
                    await asyncio.sleep(ERROR_PAUSE)
            except (ParleyError, httpx.HTTPError) as exc:
                result.errors[error_label(exc)] += 1
                await asyncio.sleep(pause_after(exc))
            else:
                result.latencies.append(time.perf_counter() - began)
                if time.time() <= end:
                    result.in_window += 1
            turn += 1


def run_closed_loop(job: ClosedLoopJob, worker_offset: int = 0) -> ClosedLoopResult:
    """Worker entry point: every client of this worker's share, until the window closes."""
    cpu = time.process_time()
    result = ClosedLoopResult()

    async def clients() -> None:
        await asyncio.gather(
            *(
                _closed_loop_client(job, worker_offset + i, plan, result)
                for i, plan in enumerate(job.clients)
            )
        )

    began = time.monotonic()
    run_async(clients)
    result.cpu_seconds = time.process_time() - cpu
    result.wall_seconds = time.monotonic() - began
    return result


# --- fan-out: sockets listening while senders send at a fixed rate (open loop) --------------


@dataclass(frozen=True)
class Listener:
    index: int  # global across workers: the coordinator maps it back to its conversation
    token: str
    conversation_id: str


@dataclass(frozen=True)
class Sender:
    token: str
    conversation_id: str


@dataclass(frozen=True)
class FanoutJob:
    base: str
    worker: int
    workers: int
    listeners: tuple[Listener, ...]
    senders: tuple[Sender, ...]
    rate: float  # this worker's share, messages per second
    duration: float
    timeout: float
    max_in_flight: int
    grace: float
    tag: str
    quiet: float = 1.5  # no delivery for this long after the last send: everything arrived


@dataclass
class SendRecord:
    key: str
    conversation_id: str
    sent_at: float  # wall clock when the call began
    outcome: str  # "201" or the error label
    latency: float


@dataclass
class FanoutResult:
    sends: list[SendRecord] = field(default_factory=list)
    # listener index -> {message key: first arrival (wall clock)}
    arrivals: dict[int, dict[str, float]] = field(default_factory=dict)
    # listener index -> {message key: conversation the event said it belongs to}
    arrival_conversations: dict[int, dict[str, str]] = field(default_factory=dict)
    duplicated: int = 0  # the same message delivered again under another event id
    redelivered_frames: int = 0  # an event id received again (the client drops these)
    connect_failures: Counter[str] = field(default_factory=Counter)
    skipped_at_cap: int = 0  # sends not started: already max_in_flight waiting
    connected: list[int] = field(default_factory=list)  # listener indexes whose socket connected
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    send_window: tuple[float, float] = (0.0, 0.0)


class CountedSocket(ParleySocket):
    """A `ParleySocket` that also counts raw frames per event id, before the client's own
    de-duplication hides redeliveries."""

    def __init__(self, base_url: str, access_token: str) -> None:
        self.frames: Counter[str] = Counter()
        super().__init__(base_url, access_token)

    def _receiver(self, kind: str) -> Callable[[Any], Awaitable[None]]:
        receive = super()._receiver(kind)

        async def count_then_receive(payload: Any) -> None:
            if isinstance(payload, dict):
                self.frames[str(payload.get("event_id"))] += 1
            await receive(payload)

        return count_then_receive


def _wait_at_barrier(timeout: float) -> None:
    if _barrier is not None:
        _barrier.wait(timeout)


async def _fanout(job: FanoutJob, result: FanoutResult) -> None:
    last_arrival = [time.time()]
    sockets: list[CountedSocket] = []

    def on_created(listener: Listener) -> Callable[[SocketEvent], None]:
        arrivals = result.arrivals.setdefault(listener.index, {})
        where = result.arrival_conversations.setdefault(listener.index, {})

        def record(event: SocketEvent) -> None:
            now = time.time()
            words = str(event.data.get("content", "")).split()
            if len(words) != 2 or words[0] != job.tag:
                return
            key = words[1]
            if key in arrivals:
                result.duplicated += 1
                return
            arrivals[key] = now
            where[key] = str(event.data.get("conversation_id"))
            last_arrival[0] = now

        return record

    connecting = asyncio.Semaphore(16)

    async def connect(listener: Listener) -> None:
        socket = CountedSocket(job.base, listener.token)
        socket.on("message.created", on_created(listener))
        async with connecting:
            try:
                await socket.connect(timeout=job.timeout)
            except Exception as exc:  # any failure to connect is counted, not fatal
                result.connect_failures[error_label(exc)] += 1
                return
        sockets.append(socket)
        result.connected.append(listener.index)

    await asyncio.gather(*(connect(listener) for listener in job.listeners))
    barrier_timeout = 60 + 2 * job.timeout
    await asyncio.to_thread(_wait_at_barrier, barrier_timeout)

    clients = [
        ParleyClient(job.base, access_token=s.token, timeout=job.timeout) for s in job.senders
    ]
    in_flight: set[asyncio.Task[None]] = set()

    async def send(number: int) -> None:
        sender_index = number % len(job.senders)
        sender = job.senders[sender_index]
        key = f"{job.worker}-{number}"
        began_wall, began = time.time(), time.perf_counter()
        try:
            await clients[sender_index].send_message(sender.conversation_id, f"{job.tag} {key}")
        except (ParleyError, httpx.HTTPError) as exc:
            outcome = error_label(exc)
        else:
            outcome = "201"
        result.sends.append(
            SendRecord(
                key, sender.conversation_id, began_wall, outcome, time.perf_counter() - began
            )
        )

    start = time.time() + 0.5
    end = start + job.duration
    result.send_window = (start, end)
    await sleep_until(start)
    issued = 0
    try:
        if job.senders and job.rate > 0:
            while (now := time.time()) < end:
                due = int((now - start) * job.rate) + 1
                while issued < due:
                    if len(in_flight) >= job.max_in_flight:
                        result.skipped_at_cap += 1
                    else:
                        task = asyncio.create_task(send(issued))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                    issued += 1
                await sleep_until(start + issued / job.rate)
        if in_flight:
            await asyncio.wait(set(in_flight))
        # Every worker has finished sending before anyone stops listening.
        await asyncio.to_thread(_wait_at_barrier, barrier_timeout + job.grace)
        stop_by = time.time() + job.grace
        last_arrival[0] = max(last_arrival[0], time.time())
        # Listen until deliveries stop (`quiet` seconds without one), at most `grace`.
        while time.time() < stop_by:
            if time.time() - last_arrival[0] >= job.quiet:
                break
            await asyncio.sleep(0.1)
    finally:
        for client in clients:
            await client.aclose()
        for socket in sockets:
            result.redelivered_frames += sum(n - 1 for n in socket.frames.values() if n > 1)
            with contextlib.suppress(Exception):
                await socket.disconnect()


def run_fanout(job: FanoutJob) -> FanoutResult:
    """Worker entry point: connect this worker's sockets, meet the other workers, send at this
    worker's share of the rate, then listen until deliveries stop."""
    cpu, began = time.process_time(), time.monotonic()
    result = FanoutResult()
    run_async(lambda: _fanout(job, result))
    result.cpu_seconds = time.process_time() - cpu
    result.wall_seconds = time.monotonic() - began
    return result


def warm_up(_: object = None) -> int:
    """A no-op job: makes the pool start every process (imports included) before measuring."""
    threading.Event().wait(0.3)
    return os.getpid()
