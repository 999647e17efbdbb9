"""Several gateway replicas share rooms and emit each event once; expired tokens are refused
at the edge and at socket connect; the per-user socket limit holds."""

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import jwt
import pytest
import socketio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gateway_factories import listen, new_group, new_tenant, new_user, send
from gateway_suite import backend, platform, two_gateways

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


async def test_two_replicas_deliver_each_event_once(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        backend(stack_urls, isolation) as behind,
        two_gateways(behind) as second_url,
        httpx.AsyncClient(base_url=second_url, timeout=10) as via_second,
    ):
        owner = await new_tenant(via_second)
        ann = await new_user(via_second, owner, "ann")
        conversation = await new_group(via_second, owner, ann)
        on_first = await listen(behind.url, ann)
        on_second = await listen(second_url, ann)
        try:
            for index in range(10):
                await send(via_second, owner, conversation, f"m{index}")
            await on_first.wait_for(
                lambda _, p: p.get("data", {}).get("content") == "m9", timeout=20
            )
            await on_second.wait_for(
                lambda _, p: p.get("data", {}).get("content") == "m9", timeout=20
            )
            await asyncio.sleep(1.0)  # a duplicate would have arrived by now
        finally:
            await on_first.client.disconnect()
            await on_second.client.disconnect()
    for listener in (on_first, on_second):
        created = listener.of_type("message.created")
        assert [p["data"]["content"] for p in created] == [f"m{i}" for i in range(10)]
        assert max(Counter(p["event_id"] for p in created).values()) == 1


def _pem(path: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path.write_text(pem)
    return pem


async def test_expired_tokens_are_refused_on_http_and_socket(
    stack_urls: StackUrls, isolation: Isolation, tmp_path: Path
) -> None:
    pem = _pem(tmp_path / "signing.pem")
    async with (
        platform(
            stack_urls, isolation, {"signing_key_file": str(tmp_path / "signing.pem")}
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        kid = (await http.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
        now = int(time.time())
        claims = {
            "sub": owner.user_id,
            "tid": owner.tenant_id,
            "roles": ["owner"],
            "username": "owner",
            "iat": now - 3600,
            "exp": now - 600,
            "jti": "expired",
            "iss": "parley-auth",
            "aud": "parley",
        }
        expired = jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})
        valid = jwt.encode(
            claims | {"exp": now + 600, "jti": "fresh"},
            pem,
            algorithm="RS256",
            headers={"kid": kid},
        )
        refused = await http.get("/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
        accepted = await http.get("/v1/auth/me", headers={"Authorization": f"Bearer {valid}"})
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                running.url, auth={"token": expired}, transports=["websocket"], wait_timeout=5
            )
        await client.disconnect()
    assert refused.status_code == 401
    assert refused.json()["status"] == 401
    assert accepted.status_code == 200  # the same key and claims, only not expired


async def test_sockets_per_user_are_limited(stack_urls: StackUrls, isolation: Isolation) -> None:
    async with (
        platform(stack_urls, isolation, socket_max_per_user=2) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        opened = [await listen(running.url, owner) for _ in range(2)]
        third = socketio.AsyncClient(reconnection=False)
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await third.connect(
                    running.url,
                    auth={"token": owner.access_token},
                    transports=["websocket"],
                    wait_timeout=5,
                )
            await opened[0].client.disconnect()
            await asyncio.sleep(0.3)
            replacement = await listen(running.url, owner)
            await replacement.client.disconnect()
        finally:
            for listener in opened:
                await listener.client.disconnect()
            await third.disconnect()
