"""Before starting anything, `make run` looks at the suite's ports: a suite that answers but is
not ready, or a port held by something else, is named and the run refused (non-zero exit), and
nothing is started. These need no engines: the refusal comes first."""

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from run.suite_under_test import (
    base_environment,
    port_free,
    start_suite,
    suite_command,
    suite_ports,
)

FAILING = "kafka: KafkaConnectionError: Unable to bootstrap from [('127.0.0.1', 9092)]"


class NotReadyParley(BaseHTTPRequestHandler):
    """What an orphaned gateway whose engines are gone answers: alive, not ready."""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._json(200, {"status": "ok"})
        elif self.path == "/readyz":
            self._json(
                503,
                {
                    "title": "Service unavailable",
                    "status": 503,
                    "detail": f"not ready: {FAILING}",
                    "checks": {"redis": "ok", "kafka": FAILING},
                },
            )
        else:
            self._json(404, {"status": 404})

    def _json(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ports() -> dict[str, int]:
    return suite_ports()


@pytest.fixture
def env(ports: dict[str, int], tmp_path: Path) -> dict[str, str]:
    return base_environment(ports, tmp_path / "state")


@pytest.fixture
def not_ready_gateway(ports: dict[str, int]) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", ports["gateway"]), NotReadyParley)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


def run_suite(env: dict[str, str], log: Path) -> tuple[int, str]:
    process = start_suite(env, log, "run")
    return process.wait(60), log.read_text()


def test_a_suite_that_answers_but_is_not_ready_is_named_and_the_run_refused(
    not_ready_gateway: None, env: dict[str, str], ports: dict[str, int], tmp_path: Path
) -> None:
    code, output = run_suite(env, tmp_path / "run.log")

    assert code != 0, output
    assert "not ready" in output
    assert FAILING in output  # the failing check, as /readyz names it
    assert f"kill {os.getpid()}" in output  # how to stop it (the stub is this process)
    assert all(port_free(ports[name]) for name in ("auth", "messaging", "search"))


def test_a_port_held_by_something_else_is_named_with_its_process(
    env: dict[str, str], ports: dict[str, int], tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", ports["messaging"]))
        holder.listen()
        code, output = run_suite(env, tmp_path / "run.log")

    assert code != 0, output
    assert f"port {ports['messaging']} (messaging) is taken by pid {os.getpid()}" in output
    assert all(port_free(ports[name]) for name in ("auth", "search", "gateway"))


def test_stop_and_status_without_a_suite_say_it_is_not_running(env: dict[str, str]) -> None:
    stop = suite_command(env, "stop")
    status = suite_command(env, "status")

    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "Parley is not running" in stop.stdout
    assert status.returncode == 3, status.stdout + status.stderr
    assert status.stdout.count(" down") == 4
