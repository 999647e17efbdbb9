"""Serving an ASGI app on a real loopback port inside a test (real HTTP between services)."""

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Final

import uvicorn
from starlette.types import ASGIApp

from parley_kit.listeners import listen

# Ports the local engines and `make run` use: never handed out, even while nothing holds them.
RESERVED_PORTS: Final = frozenset(
    {27017, *range(8000, 8010), *range(9000, 9010), 9092, 9093, 9200, 9300}
)
FALLBACK_EPHEMERAL_START: Final = 32768


def _ephemeral_start() -> int:
    """Where the kernel's range for outgoing connections' local ports begins."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return FALLBACK_EPHEMERAL_START


def free_port(candidates: Iterable[int] | None = None) -> int:
    """A loopback port nothing listens on, for a server a test starts a moment later.

    Chosen below the kernel's ephemeral range: a port from that range (what binding port 0
    gives) can be taken by any outgoing connection between this choice and the server's bind,
    which on a busy test machine happens (`Address already in use`). Outside it, only another
    test choosing the same port at random could collide.
    """
    low, high = 15000, max(15001, _ephemeral_start() - 1)
    if candidates is None:
        candidates = (random.randint(low, high) for _ in range(200))
    for port in candidates:
        if port in RESERVED_PORTS:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port between {low} and {high}")


@contextlib.asynccontextmanager
async def serving(
    app: ASGIApp, port: int | None = None, *, ops_port: int | None = None
) -> AsyncIterator[str]:
    """Run `app` (with its lifespan) on 127.0.0.1 and yield its base URL until the block ends;
    with `ops_port`, on that port too (as `parley_kit.app.serve` runs a service). Forwarded
    headers are the app's business, as in production (uvicorn's own handling is off)."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", proxy_headers=False
    )
    sockets = [listen("127.0.0.1", port)]
    if ops_port is not None:
        sockets.append(listen("127.0.0.1", ops_port))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=sockets))
    try:
        for _ in range(600):
            if server.started:
                break
            if task.done():
                task.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.05)
        else:
            raise TimeoutError("the server did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        for sock in sockets:
            sock.close()
