"""A service's two listeners (readiness and metrics only on the ops port) and whose
X-Forwarded-For it believes (only a trusted proxy's)."""

import socket

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from parley_kit.app import create_service_app, serve
from parley_kit.settings import ServiceSettings
from parley_kit.testing.servers import free_port, serving


def make_app(**settings: object) -> FastAPI:
    router = APIRouter()

    @router.get("/v1/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"ip": request.client.host if request.client else None}

    return create_service_app(
        service="test",
        settings=ServiceSettings.model_validate(settings),
        routers=[router],
    )


PATHS = ("/healthz", "/readyz", "/metrics", "/v1/whoami")


async def test_readiness_and_metrics_only_on_the_ops_port() -> None:
    port, ops_port = free_port(), free_port()
    app = make_app(port=port, ops_port=ops_port)
    async with (
        serving(app, port, ops_port=ops_port) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as public,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_port}", timeout=10) as ops,
    ):
        on_public = {path: (await public.get(path)).status_code for path in PATHS}
        on_ops = {path: (await ops.get(path)).status_code for path in PATHS}
        refused = await public.get("/metrics")
    assert on_public == {"/healthz": 200, "/readyz": 404, "/metrics": 404, "/v1/whoami": 200}
    assert on_ops == {"/healthz": 200, "/readyz": 200, "/metrics": 200, "/v1/whoami": 404}
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "parley_http" not in refused.text


def test_the_ops_port_defaults_to_the_port_plus_1000() -> None:
    assert ServiceSettings(port=8000).resolved_ops_port == 9000
    assert ServiceSettings(port=8000, ops_port=9100).resolved_ops_port == 9100


async def whoami(app: FastAPI, peer: str, forwarded_for: str | None) -> str:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        response = await http.get("/v1/whoami", headers=headers)
    ip: str = response.json()["ip"]
    return ip


async def test_by_default_a_client_cannot_pick_its_address() -> None:
    app = make_app()
    assert await whoami(app, "203.0.113.7", "1.2.3.4") == "203.0.113.7"
    assert await whoami(app, "127.0.0.1", "1.2.3.4") == "127.0.0.1"  # loopback is no proxy


async def test_only_a_trusted_proxy_names_the_client() -> None:
    app = make_app(trusted_proxies=["10.0.0.0/8"])
    # A peer outside the proxy networks: its header is ignored.
    assert await whoami(app, "203.0.113.7", "1.2.3.4") == "203.0.113.7"
    # The proxy appended the address it saw; what the client sent before it does not count.
    assert await whoami(app, "10.1.2.3", "6.6.6.6, 198.51.100.4") == "198.51.100.4"
    # Through two trusted proxies: the rightmost address no trusted proxy added.
    assert await whoami(app, "10.1.2.3", "198.51.100.4, 10.9.9.9") == "198.51.100.4"
    assert await whoami(app, "10.1.2.3", None) == "10.1.2.3"


def test_a_taken_ops_port_ends_the_start_naming_its_variable() -> None:
    port, ops_port = free_port(), free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ops_port))
        holder.listen()
        settings = ServiceSettings(port=port, ops_port=ops_port)
        with pytest.raises(SystemExit, match=f"127.0.0.1:{ops_port} \\(PARLEY_OPS_PORT\\)"):
            serve(make_app(port=port, ops_port=ops_port), settings)
    with socket.socket() as again:  # the service port bound first was let go
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
