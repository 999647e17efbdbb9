"""An error inside the Socket.IO transport (outside FastAPI) is a complete 500 problem too."""

from typing import Any

import httpx

from parley_gateway.main import create_app
from parley_gateway.settings import GatewaySettings


async def test_an_error_in_the_socket_transport_is_a_500_problem() -> None:
    app = create_app(GatewaySettings())
    mount = app.app.app  # the Socket.IO ASGI app inside the last resort and the listener check

    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug in the socket transport")

    mount.engineio_server.handle_request = broken
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "a bug" not in response.text
    assert response.json()["status"] == 500
