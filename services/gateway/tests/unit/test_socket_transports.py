"""`socket_transports`: a websocket-only gateway refuses the polling handshake, so no session
ever needs its requests pinned to one replica (no sticky sessions at the load balancer)."""

import httpx
import pytest

from parley_gateway.main import create_app
from parley_gateway.settings import GatewaySettings

POLLING_HANDSHAKE = {"EIO": "4", "transport": "polling"}


async def polling_handshake(settings: GatewaySettings) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        return await http.get("/socket.io/", params=POLLING_HANDSHAKE)


async def test_a_websocket_only_gateway_refuses_a_polling_handshake() -> None:
    response = await polling_handshake(GatewaySettings(socket_transports=["websocket"]))
    assert response.status_code == 400


async def test_the_local_default_still_serves_polling() -> None:
    response = await polling_handshake(GatewaySettings())
    assert response.status_code == 200
    assert '"sid"' in response.text


def test_the_setting_reads_a_json_list_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARLEY_GATEWAY_SOCKET_TRANSPORTS", '["websocket"]')
    assert GatewaySettings().socket_transports == ["websocket"]
    monkeypatch.setenv("PARLEY_GATEWAY_SOCKET_TRANSPORTS", '["carrier-pigeon"]')
    with pytest.raises(ValueError, match="socket_transports"):
        GatewaySettings()
