"""The two listeners of a service: its port (the API; the gateway's is the public edge) and its
ops port (`/healthz`, `/readyz`, `/metrics` for probes and Prometheus, inside the cluster).

`serve` binds both sockets and hands them to one uvicorn server (or its worker processes), so
both reach the same app with the same clients; `OpsListener` tells them apart by the port a
request arrived on. Readiness names dependencies and metrics name routes and counts: neither
is for the public internet, and the ops port is never exposed by an Ingress or a published
compose port.
"""

import socket
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from parley_kit.problems import NotFound, problem_response

# Only on the ops listener. /healthz (the process is alive, nothing more) answers on both.
OPS_ONLY_PATHS: Final = frozenset({"/readyz", "/metrics"})
OPS_PATHS: Final = OPS_ONLY_PATHS | {"/healthz"}


class OpsListener:
    """404 for `/readyz` and `/metrics` on the service port, and for anything but the ops
    paths on the ops port."""

    def __init__(self, app: ASGIApp, *, port: int, ops_port: int) -> None:
        self.app = app
        self._port = port
        self._ops_port = ops_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._refused(scope):
            problem = NotFound(f"no route {scope['path']} on this listener")
            await problem_response(problem.problem(scope["path"]))(scope, receive, send)
            return
        if scope["type"] == "websocket" and self._refused(scope):
            await send({"type": "websocket.close", "code": 1008})  # policy: not here
            return
        await self.app(scope, receive, send)

    def _refused(self, scope: Scope) -> bool:
        server = scope.get("server")
        port = server[1] if server else None
        path: str = scope["path"]
        if port == self._port:
            return path in OPS_ONLY_PATHS
        if port == self._ops_port:
            return path not in OPS_PATHS
        # Another listener (a test server on a free port, an in-process transport): the app
        # was not started by `serve`, so there is no public listener to keep them off.
        return False


def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket that uvicorn's workers inherit (as uvicorn binds its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
