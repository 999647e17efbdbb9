"""deploy/docker/healthcheck.py, the images' and compose's healthcheck, run for real against a
listener on this host: it asks `/readyz` on the service's ops port and exits 0 only on a 200."""

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from parley_auth.settings import AuthSettings
from parley_kit.testing.servers import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "healthcheck.py"


@contextmanager
def ops_listener(status: int) -> Iterator[tuple[int, list[str]]]:
    """A server on a free loopback port answering every GET with `status`; yields the port and
    the paths it was asked for."""
    asked: list[str] = []

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()


def healthcheck(environment: dict[str, str], *arguments: str) -> int:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        env=kept | environment,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    ).returncode


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1)])
def test_it_asks_readyz_on_the_configured_ops_port(status: int, code: int) -> None:
    with ops_listener(status) as (port, asked):
        environment = {"PARLEY_SERVICE": "auth", "PARLEY_AUTH_OPS_PORT": str(port)}
        assert healthcheck(environment) == code
    assert asked == ["/readyz"]


def test_an_unset_ops_port_is_the_service_port_plus_1000_as_the_service_resolves_it() -> None:
    with ops_listener(200) as (ops, asked):
        if ops - 1000 < 1024:
            pytest.skip("the free port found is too low to have a port 1000 below it")
        environment = {
            "PARLEY_SERVICE": "auth",
            "PARLEY_AUTH_PORT": str(ops - 1000),
            "PARLEY_AUTH_OPS_PORT": "",  # as the generated env files write an unset one
        }
        assert AuthSettings(port=ops - 1000, ops_port=None).resolved_ops_port == ops
        assert healthcheck(environment, "/healthz") == 0
    assert asked == ["/healthz"]


def test_nothing_listening_is_unhealthy() -> None:
    environment = {"PARLEY_SERVICE": "search", "PARLEY_SEARCH_OPS_PORT": str(free_port())}
    assert healthcheck(environment) == 1
