"""SIGTERM to a gateway replica during a stream of requests drops none of them, and its sockets
are asked to reconnect as soon as it starts draining.

What "drops no request" means here, precisely. Clients call the replica being stopped and,
like a load balancer, retry a request on the other replica only when its connection was
refused (`httpx.ConnectError`: nothing was sent, so nothing can have happened). Every other
outcome must be the normal answer: a request the stopping replica accepted (in flight when
SIGTERM came, or sent during the drain on a connection already open) completes there with
its answer; no connection is reset under a request, no 5xx, no timeout. Messages sent through
it are all stored, each once (their `seq`s are 1..n without a gap), and the process drains,
shuts its lifespan down and ends by the signal it was sent (as uvicorn does).
"""

import asyncio
import json
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import socketio
from ops.ops_suite import ReplicatedSuite

pytestmark = pytest.mark.e2e

WORKERS = 6
PATIENCE_SECONDS = 120.0


@dataclass
class Outcome:
    calls: int = 0
    refused_then_retried: int = 0
    in_flight_at_sigterm_completed: int = 0
    failures: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    sigterm_at: float | None = None


async def call(
    http: httpx.AsyncClient,
    outcome: Outcome,
    replicas: tuple[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    stopping, other = replicas
    sent_at = time.monotonic()
    try:
        try:
            answer = await http.request(method, f"{stopping}{path}", json=body)
            answered_by_stopping = True
        except httpx.ConnectError:
            outcome.refused_then_retried += 1
            answer = await http.request(method, f"{other}{path}", json=body)
            answered_by_stopping = False
    except httpx.HTTPError as exc:
        when = "before" if outcome.sigterm_at is None or sent_at < outcome.sigterm_at else "after"
        outcome.failures.append(f"{method} {path} sent {when} SIGTERM: {exc!r}")
        return
    outcome.calls += 1
    if answer.status_code >= 400:
        outcome.failures.append(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
        return
    if (
        answered_by_stopping
        and outcome.sigterm_at is not None
        and sent_at < outcome.sigterm_at < time.monotonic()
    ):
        outcome.in_flight_at_sigterm_completed += 1
    if method == "POST":
        outcome.seqs.append(int(answer.json()["seq"]))


async def until(condition: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE_SECONDS
    while not condition():
        assert loop.time() < give_up, f"gave up waiting: {what}"
        await asyncio.sleep(0.05)


async def test_a_gateway_replica_stopped_by_sigterm_fails_no_request(
    ops_suite: ReplicatedSuite,
) -> None:
    suite = ops_suite
    replicas = (suite.url("gateway-2"), suite.url("gateway"))
    slug = f"d{uuid.uuid4().hex[:10]}"
    owner = {"username": "ada", "email": f"ada@{slug}.example.com", "password": "drain me 1"}
    async with httpx.AsyncClient(timeout=30) as anonymous:
        created = await anonymous.post(
            f"{replicas[1]}/v1/tenants", json={"name": slug, "slug": slug, "owner": owner}
        )
        assert created.status_code == 201, created.text
        token = created.json()["tokens"]["access_token"]
    outcome = Outcome()
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        conversation = await http.post(
            f"{replicas[1]}/v1/conversations",
            json={"kind": "group", "title": "drain", "member_ids": []},
        )
        assert conversation.status_code == 201, conversation.text
        messages = f"/v1/conversations/{conversation.json()['id']}/messages"

        async def worker() -> None:
            while not stop.is_set():
                send = {"content": "still here", "client_msg_id": uuid.uuid4().hex}
                await call(http, outcome, replicas, "POST", messages, send)
                await call(http, outcome, replicas, "GET", messages, None)
                await asyncio.sleep(0.01)  # a stream of requests, not a load test

        socket = socketio.AsyncClient(reconnection=False)
        socket_closed: list[float] = []

        async def closed(*_: Any) -> None:
            socket_closed.append(time.time())

        socket.on("disconnect", closed)
        await socket.connect(
            replicas[0], auth={"token": token}, socketio_path="socket.io", transports=["websocket"]
        )
        working = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        try:
            await until(lambda: outcome.calls >= 5 * WORKERS, "calls before SIGTERM")
            outcome.sigterm_at = time.monotonic()
            stopping = suite.terminate("gateway-2")
            exit_code = await asyncio.to_thread(stopping.wait, PATIENCE_SECONDS)
            calls_at_exit = outcome.calls
            await until(lambda: outcome.calls >= calls_at_exit + 5 * WORKERS, "calls after exit")
        finally:
            stop.set()
            await asyncio.gather(*working)
            await socket.disconnect()
            await asyncio.to_thread(restart, suite, "gateway-2")

    assert not outcome.failures, outcome.failures
    log = suite.log("gateway-2").read_text()
    shutting_down = [
        datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp()
        for line in log.splitlines()
        if '"Shutting down"' in line
    ]
    assert socket_closed, "the socket on the stopped replica was closed"
    assert socket_closed[0] < shutting_down[-1], (
        "sockets are asked to reconnect when the drain starts, not cut when the process ends"
    )
    assert exit_code == -signal.SIGTERM, f"see {suite.log('gateway-2')}"
    assert '"draining"' in log, "it drained"
    assert "Application shutdown complete" in log, "its lifespan (relay, sockets) shut down"
    assert outcome.refused_then_retried >= 1, "the stopped replica refused connections"
    assert outcome.in_flight_at_sigterm_completed >= 1, "requests in flight at SIGTERM completed"
    assert sorted(outcome.seqs) == list(range(1, len(outcome.seqs) + 1)), (
        "every acknowledged message stored once"
    )


def restart(suite: ReplicatedSuite, name: str) -> None:
    """Leave the suite as the other tests expect it."""
    if name in suite.processes:
        return
    suite.start(name)
    try:
        suite.wait_ready(name)
    except (TimeoutError, RuntimeError, subprocess.SubprocessError):
        pass  # the next test that needs it fails with the log named
