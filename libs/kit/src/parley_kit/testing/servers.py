"""Serving an ASGI app on a real loopback port inside a test (real HTTP between services)."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp

from parley_kit.listeners import listen


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
