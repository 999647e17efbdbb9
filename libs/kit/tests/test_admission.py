"""Admission control as pure ASGI: the in-flight bound, deadlines, disconnects. No engines."""

import asyncio
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter
from pymongo.errors import (
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from starlette.types import Message, Receive, Scope, Send

from parley_kit.admission import Admission, in_flight_bound, usable_cores
from parley_kit.app import create_service_app
from parley_kit.deadlines import DEADLINE_HEADER, current_deadline, header_value
from parley_kit.settings import ServiceSettings


def http_scope(
    path: str = "/work", headers: Iterable[tuple[str, str]] = (), method: str = "GET"
) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("svc", 80),
    }


class Connection:
    """One client connection: the request body, then silence until the client leaves."""

    def __init__(self, *chunks: bytes) -> None:
        parts = list(chunks) or [b""]
        self._pending: list[Message] = [
            {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
            for index, part in enumerate(parts)
        ]
        self._gone = asyncio.Event()
        self.sent: list[Message] = []
        self.answered = asyncio.Event()
        self.listening = asyncio.Event()  # someone reads past the body, waiting for the end

    async def receive(self) -> Message:
        if self._pending:
            return self._pending.pop(0)
        self.listening.set()
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.answered.set()

    def leave(self) -> None:
        self._gone.set()

    @property
    def unread(self) -> int:
        return len(self._pending)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(starts[0]["status"]) if starts else None

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


class HeldApp:
    """An app whose requests stay in flight until `release()`; it records what it saw."""

    def __init__(self) -> None:
        self.entered = 0
        self.finished = 0
        self.cancelled = 0
        self.bodies: list[bytes] = []
        self.deadlines: list[float | None] = []
        self._release = asyncio.Event()
        self._arrivals = asyncio.Condition()

    def release(self) -> None:
        self._release.set()

    async def wait_entered(self, count: int) -> None:
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.entered >= count)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        self.deadlines.append(current_deadline())
        async with self._arrivals:
            self.entered += 1
            self._arrivals.notify_all()
        try:
            await self._release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        self.finished += 1


def admission(
    app: Any,
    *,
    bound: int = 2,
    budget: float = 10.0,
    trust: bool = True,
    watch_after: float = 0.0,
) -> Admission:
    return Admission(
        app,
        service="unit",
        max_in_flight=bound,
        deadline_seconds=budget,
        retry_after_seconds=3,
        trust_deadline_header=trust,
        watch_after=watch_after,
    )


async def test_beyond_the_bound_a_request_is_refused_at_once_with_retry_after() -> None:
    app = HeldApp()
    middleware = admission(app, bound=2)
    first, second, third = Connection(), Connection(), Connection()
    held = [
        asyncio.create_task(middleware(http_scope(), c.receive, c.send)) for c in (first, second)
    ]
    await app.wait_entered(2)

    await middleware(http_scope(), third.receive, third.send)  # returns without waiting

    assert third.status == 503
    assert third.headers["retry-after"] == "3"
    assert third.headers["content-type"] == "application/problem+json"
    assert third.json()["status"] == 503
    assert "capacity" in third.json()["detail"]
    assert app.entered == 2  # the refused request never reached the app
    app.release()
    await asyncio.gather(*held)
    assert (first.status, second.status) == (200, 200)
    assert middleware.in_flight == 0


async def test_health_readiness_and_metrics_pass_when_the_process_is_full() -> None:
    app = HeldApp()
    middleware = admission(app, bound=1)
    busy = Connection()
    held = asyncio.create_task(middleware(http_scope(), busy.receive, busy.send))
    await app.wait_entered(1)
    probe = Connection()
    probing = asyncio.create_task(middleware(http_scope("/healthz"), probe.receive, probe.send))
    await app.wait_entered(2)  # the probe reached the app although the bound is 1
    app.release()
    await asyncio.gather(held, probing)
    assert (busy.status, probe.status) == (200, 200)


async def test_a_failing_request_gives_its_place_back() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    middleware = admission(failing, bound=1)
    for _ in range(3):
        connection = Connection()
        try:
            await middleware(http_scope(), connection.receive, connection.send)
        except RuntimeError:
            pass
        else:
            raise AssertionError("the app's error must propagate")
    assert middleware.in_flight == 0


async def test_a_request_past_its_deadline_is_refused_unprocessed() -> None:
    app = HeldApp()
    middleware = admission(app)
    late = Connection()
    passed = header_value(time.time() - 1)

    await middleware(http_scope(headers=[(DEADLINE_HEADER, passed)]), late.receive, late.send)

    assert late.status == 503
    assert late.headers["retry-after"] == "3"
    assert "deadline" in late.json()["detail"]
    assert app.entered == 0


async def test_the_app_runs_under_the_callers_deadline() -> None:
    app = HeldApp()
    app.release()
    middleware = admission(app, budget=30.0)
    asked = time.time() + 5
    connection = Connection()

    await middleware(
        http_scope(headers=[(DEADLINE_HEADER, header_value(asked))]),
        connection.receive,
        connection.send,
    )

    assert connection.status == 200
    assert app.deadlines[0] is not None
    assert abs(app.deadlines[0] - asked) < 0.01
    assert current_deadline() is None  # nothing leaks out of the request


async def test_a_deadline_header_cannot_extend_the_budget() -> None:
    app = HeldApp()
    app.release()
    middleware = admission(app, budget=2.0)
    connection = Connection()
    started = time.time()

    await middleware(
        http_scope(headers=[(DEADLINE_HEADER, header_value(started + 3600))]),
        connection.receive,
        connection.send,
    )

    deadline = app.deadlines[0]
    assert deadline is not None
    assert deadline <= time.time() + 2.0


async def test_an_untrusted_deadline_header_is_ignored() -> None:
    app = HeldApp()
    app.release()
    middleware = admission(app, budget=10.0, trust=False)
    connection = Connection()

    await middleware(
        http_scope(headers=[(DEADLINE_HEADER, header_value(time.time() - 1))]),
        connection.receive,
        connection.send,
    )

    assert connection.status == 200


async def test_a_malformed_deadline_header_falls_back_to_the_budget() -> None:
    app = HeldApp()
    app.release()
    middleware = admission(app)
    connection = Connection()

    await middleware(
        http_scope(headers=[(DEADLINE_HEADER, "soon")]), connection.receive, connection.send
    )

    assert connection.status == 200


async def test_a_client_that_leaves_cancels_its_work() -> None:
    app = HeldApp()
    middleware = admission(app)
    connection = Connection()
    serving = asyncio.create_task(middleware(http_scope(), connection.receive, connection.send))
    await app.wait_entered(1)

    connection.leave()
    await serving  # returns (no error) once the work is cancelled

    assert app.cancelled == 1
    assert app.finished == 0
    assert connection.sent == []
    assert middleware.in_flight == 0


async def test_a_disconnect_after_the_answer_does_not_cancel_what_follows() -> None:
    answer, after_answer = asyncio.Event(), asyncio.Event()
    completed: list[bool] = []

    async def answers_then_works(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await answer.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        await after_answer.wait()  # e.g. FastAPI background tasks
        completed.append(True)

    middleware = admission(answers_then_works)
    connection = Connection()
    serving = asyncio.create_task(middleware(http_scope(), connection.receive, connection.send))
    await connection.listening.wait()  # the middleware watches the connection
    answer.set()
    await connection.answered.wait()
    connection.leave()
    for _ in range(5):  # let the disconnect reach the middleware
        await asyncio.sleep(0)
    after_answer.set()
    await serving
    assert completed == [True]


async def test_a_request_answered_soon_never_watches_its_connection() -> None:
    async def answers(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        for _ in range(5):  # a few turns of the loop, as a quick store call takes
            await asyncio.sleep(0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = admission(answers, watch_after=60.0)
    connection = Connection()

    await middleware(http_scope(), connection.receive, connection.send)

    assert connection.status == 200
    assert not connection.listening.is_set()


async def test_the_rest_of_the_body_reaches_the_app_through_the_watcher() -> None:
    resume = asyncio.Event()
    bodies: list[bytes] = []

    async def reads_in_two_goes(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        await resume.wait()  # busy elsewhere: the watcher takes over reading the connection
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = admission(reads_in_two_goes)
    connection = Connection(b"head ", b"middle ", b"tail")
    serving = asyncio.create_task(middleware(http_scope(), connection.receive, connection.send))
    for _ in range(50):  # until the watcher has read ahead of the app
        if connection.unread < 2:
            break
        await asyncio.sleep(0)
    assert connection.unread < 2
    resume.set()
    await serving
    assert bodies == [b"head middle tail"]
    assert connection.status == 200


async def test_the_body_reaches_the_app_whole() -> None:
    app = HeldApp()
    app.release()
    middleware = admission(app)
    connection = Connection(b"hello ", b"big ", b"world")

    await middleware(http_scope(method="POST"), connection.receive, connection.send)

    assert app.bodies == [b"hello big world"]


def test_the_default_bound_is_sized_to_cores() -> None:
    assert in_flight_bound(0, cores=2) == 128
    assert in_flight_bound(0, cores=8) == 512
    assert in_flight_bound(10, cores=8) == 10


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert usable_cores(tmp_path) == min(2, usable_cores(tmp_path / "none"))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == usable_cores(tmp_path / "none")


# --- through the app factory: store errors, metrics, OpenAPI ------------------------------


def failing_router() -> APIRouter:
    router = APIRouter()

    @router.get("/execution-timeout")
    async def execution_timeout() -> None:
        raise ExecutionTimeout("operation exceeded time limit", 50)

    @router.get("/network-timeout")
    async def network_timeout() -> None:
        raise NetworkTimeout("timed out")

    @router.get("/no-server")
    async def no_server() -> None:
        raise ServerSelectionTimeoutError("no servers")

    @router.get("/ferretdb-interrupted")
    async def ferretdb_interrupted() -> None:
        # What FerretDB answers when a query's maxTimeMS runs out.
        raise OperationFailure("handleMaxTimeMSError: operation was interrupted", 1)

    @router.post("/duplicate")
    async def duplicate() -> None:
        raise DuplicateKeyError("E11000")

    return router


def service_client(**settings: Any) -> httpx.AsyncClient:
    app = create_service_app(
        service="unit-store",
        settings=ServiceSettings(retry_after_seconds=2, **settings),
        routers=[failing_router()],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


async def test_store_timeouts_are_503_problems_with_retry_after() -> None:
    async with service_client() as http:
        answers = [
            await http.get(path)
            for path in (
                "/execution-timeout",
                "/network-timeout",
                "/no-server",
                "/ferretdb-interrupted",
            )
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "2"
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/unavailable")


async def test_other_store_errors_stay_internal_errors() -> None:
    async with service_client() as http:
        answer = await http.post("/duplicate")
    assert answer.status_code == 500
    assert "E11000" not in answer.text


async def test_metrics_show_in_flight_and_refusals() -> None:
    async with service_client() as http:
        await http.get(
            "/execution-timeout", headers={DEADLINE_HEADER: header_value(time.time() - 1)}
        )
        text = (await http.get("/metrics")).text
    assert 'parley_http_in_flight{service="unit-store"}' in text
    assert 'parley_http_rejected_total{reason="deadline",service="unit-store"}' in text


async def test_every_route_documents_the_503_problem() -> None:
    async with service_client() as http:
        document = (await http.get("/openapi.json")).json()
    operations = [
        (path, operation)
        for path, item in document["paths"].items()
        if path not in {"/healthz", "/readyz", "/metrics"}
        for operation in item.values()
    ]
    assert len(operations) == 5
    for path, operation in operations:
        unavailable = operation["responses"]["503"]
        assert "Retry-After" in unavailable["headers"], path
        schema = unavailable["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}
    assert "Problem" in document["components"]["schemas"]
    assert "FieldError" in document["components"]["schemas"]
