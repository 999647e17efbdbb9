"""No error answer breaks a connection for the next caller (issue 15, item 11).

The gateway pools one connection to a stand-in service built with the kit like every Parley
service; one of its routes raises. The innocent request after the 500 is served on the same
pooled connection. And when the gateway itself fails on a request (a service answering
nonsense), the client's kept-alive connection to the gateway serves its next request too.
"""

import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Request, Response
from jwt.algorithms import RSAAlgorithm

from parley_gateway.main import create_app as create_gateway
from parley_gateway.settings import GatewaySettings
from parley_kit.app import create_service_app
from parley_kit.settings import ServiceSettings
from parley_kit.testing.servers import free_port, serving
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

SECRET = "keep-alive-secret"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TENANT, GOOD_USER, BROKEN_USER = (
    "65f0c0ffee0123456789abc0",
    "65f0c0ffee0123456789abc1",
    "65f0c0ffee0123456789abc2",
)


def token(user_id: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "tid": TENANT,
        "roles": ["member"],
        "av": 0,
        "username": "u",
        "iat": now,
        "exp": now + 600,
        "jti": f"j{now}{user_id}",
        "iss": "parley-auth",
        "aud": "parley",
    }
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


def stand_in() -> Any:
    """Auth and messaging in one kit app: keys, authorization versions, a list that raises
    when asked for `limit=13`, and otherwise says which connection (client port) served it."""
    router = APIRouter()

    @router.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        return {"keys": [jwk | {"kid": "k1", "alg": "RS256", "use": "sig"}]}

    @router.post("/internal/v1/users:authz")
    async def authz(request: Request) -> Response:
        body = await request.json()
        if body["user_id"] == BROKEN_USER:
            return Response(b"not json", media_type="application/json")
        return Response(b'{"version": 0, "roles": ["member"]}', media_type="application/json")

    @router.get("/v1/conversations")
    async def conversations(request: Request, limit: int = 50) -> dict[str, Any]:
        if limit == 13:
            raise RuntimeError("a bug in the service")
        assert request.client is not None
        return {"items": [], "next_cursor": None, "port": request.client.port}

    return create_service_app(service="stand-in", settings=ServiceSettings(), routers=[router])


class Connects:
    """Counts the TCP connections an httpx client opens (httpcore's trace extension)."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, event: str, _info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            self.count += 1

    def extension(self) -> dict[str, Any]:
        return {"trace": self}


async def test_errors_leave_every_connection_usable(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    gateway_port = free_port()
    async with serving(stand_in()) as service:
        settings = GatewaySettings.model_validate(
            {
                "port": gateway_port,
                "auth_url": service,
                "messaging_url": service,
                "search_url": service,
                "jwks_url": f"{service}/.well-known/jwks.json",
                "redis_url": stack_urls.redis_url,
                "redis_prefix": isolation.redis_prefix,
                "kafka_bootstrap": stack_urls.kafka_bootstrap,
                "topic_prefix": isolation.topic_prefix,
                "internal_secret": SECRET,
                "max_connections": 1,  # one pooled connection to the services: reuse is certain
                "log_json": False,
            }
        )
        connects = Connects()
        good = {"authorization": f"Bearer {token(GOOD_USER)}"}
        broken = {"authorization": f"Bearer {token(BROKEN_USER)}"}
        async with (
            serving(create_gateway(settings), gateway_port) as url,
            httpx.AsyncClient(
                base_url=url, timeout=10, limits=httpx.Limits(max_connections=1)
            ) as client,
        ):
            trace = connects.extension()
            before = await client.get("/v1/conversations", headers=good, extensions=trace)
            failed = await client.get(
                "/v1/conversations", params={"limit": 13}, headers=good, extensions=trace
            )
            after = await client.get("/v1/conversations", headers=good, extensions=trace)
            gateway_failed = await client.get("/v1/conversations", headers=broken, extensions=trace)
            innocent = await client.get("/v1/conversations", headers=good, extensions=trace)
    assert before.status_code == 200
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert after.status_code == 200
    # The gateway reached the service again on the connection that carried the 500.
    assert after.json()["port"] == before.json()["port"]
    assert gateway_failed.status_code == 500
    assert gateway_failed.headers.get("connection", "").lower() != "close"
    assert "not json" not in gateway_failed.text
    assert innocent.status_code == 200
    assert innocent.json()["port"] == before.json()["port"]
    assert connects.count == 1  # one client connection to the gateway served all five
