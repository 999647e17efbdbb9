"""Backpressure through real services: a full process, a spent deadline and a store that runs
out of time each answer a prompt 503 problem with `Retry-After`, and the work is not done.

Requests are held in flight by streaming their body slowly (a service admits a request when
its headers arrive), so no test depends on timing.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_factories import new_tenant
from gateway_suite import SECRET, Platform, backend, ops_url, wait_ready

from parley_contracts.claims import AccessClaims, Role
from parley_gateway.main import create_app as create_gateway
from parley_kit.deadlines import DEADLINE_HEADER, header_value
from parley_kit.identity import IDENTITY_HEADER, ForwardedIdentity
from parley_kit.testing.servers import free_port, serving
from parley_kit.testing.stack import Isolation, StackUrls, eventually
from parley_messaging.main import create_app as create_messaging
from parley_messaging.settings import MessagingSettings

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def messaging_settings(
    urls: StackUrls, names: Isolation, auth_url: str, **overrides: object
) -> MessagingSettings:
    return MessagingSettings.model_validate(
        {
            "mongo_url": urls.mongo_url,
            "mongo_db": f"{names.mongo_db}_messaging",
            "redis_url": urls.redis_url,
            "redis_prefix": names.redis_prefix,
            "kafka_bootstrap": urls.kafka_bootstrap,
            "topic_prefix": names.topic_prefix,
            "kafka_partitions": 2,
            "jwks_url": f"{auth_url}/.well-known/jwks.json",
            "auth_url": auth_url,
            "internal_secret": SECRET,
            "log_json": False,
        }
        | overrides
    )


@contextlib.asynccontextmanager
async def messaging_alone(
    urls: StackUrls, names: Isolation, **overrides: object
) -> AsyncIterator[str]:
    """Messaging on its own port (its auth is never asked: callers carry a signed identity)."""
    settings = messaging_settings(urls, names, "http://127.0.0.1:1", **overrides)
    async with serving(create_messaging(settings)) as url:
        yield url


def identity_headers(tenant_id: str | None = None) -> dict[str, str]:
    now = int(time.time())
    claims = AccessClaims(
        sub=uuid.uuid4().hex,
        tid=tenant_id or uuid.uuid4().hex,
        roles=(Role.OWNER,),
        username="owner",
        iat=now,
        exp=now + 600,
        jti=uuid.uuid4().hex,
        iss="parley-auth",
        aud="parley",
    )
    return {IDENTITY_HEADER: ForwardedIdentity(SECRET).sign(claims)}


class HeldBody:
    """A request body that stops after its first bytes until `release()`: the request is in
    flight (admitted, counted) for as long as the test wants."""

    def __init__(self, head: bytes, tail: bytes) -> None:
        self._head, self._tail = head, tail
        self._release = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        await self._release.wait()
        yield self._tail


def group_body(title: str) -> HeldBody:
    return HeldBody(b'{"kind": "group", ', f'"title": "{title}", "member_ids": []}}'.encode())


async def in_flight(http: httpx.AsyncClient, service: str) -> float:
    """The service's in-flight gauge (the test process holds every service's metrics)."""
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(f'parley_http_in_flight{{service="{service}"}}'):
            return float(line.split()[-1])
    return 0.0


async def until_in_flight(http: httpx.AsyncClient, service: str, count: float) -> None:
    async def reached() -> bool:
        return await in_flight(http, service) >= count

    assert await eventually(reached, timeout=10), f"{service} never had {count} in flight"


def assert_unavailable(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 503
    assert detail in response.json()["detail"]


async def test_beyond_its_in_flight_bound_a_service_answers_503_at_once(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    headers = identity_headers()
    held = group_body("held")
    async with (
        messaging_alone(stack_urls, isolation, max_in_flight=1) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        holding = asyncio.create_task(
            http.post(
                "/v1/conversations",
                content=held,
                headers=headers | {"content-type": "application/json"},
            )
        )
        await until_in_flight(http, "messaging", 1)
        refused = await http.get("/v1/conversations", headers=headers)
        healthy = await http.get("/healthz")  # probes are never refused
        held.release()
        created = await holding
        served = await http.get("/v1/conversations", headers=headers)
    assert_unavailable(refused, "capacity")
    assert healthy.status_code == 200
    assert created.status_code == 201, created.text
    assert [c["title"] for c in served.json()["items"]] == ["held"]


async def test_a_request_past_its_deadline_is_refused_and_never_done(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    headers = identity_headers()
    gone = {DEADLINE_HEADER: header_value(time.time() - 1)}
    alive = {DEADLINE_HEADER: header_value(time.time() + 30)}
    async with (
        messaging_alone(stack_urls, isolation) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        late = await http.post(
            "/v1/conversations",
            json={"kind": "group", "title": "late", "member_ids": []},
            headers=headers | gone,
        )
        in_time = await http.post(
            "/v1/conversations",
            json={"kind": "group", "title": "in time", "member_ids": []},
            headers=headers | alive,
        )
        listed = await http.get("/v1/conversations", headers=headers)
    assert_unavailable(late, "deadline")
    assert in_time.status_code == 201, in_time.text
    assert [c["title"] for c in listed.json()["items"]] == ["in time"]


async def test_a_store_call_that_runs_out_of_time_is_a_503(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    # A budget of a microsecond: the first store call of any request exceeds it.
    async with (
        messaging_alone(stack_urls, isolation, deadline_seconds=1e-6) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        response = await http.post(
            "/v1/conversations",
            json={"kind": "group", "title": "too slow", "member_ids": []},
            headers=identity_headers(),
        )
    assert_unavailable(response, "document store")


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and never answers, like a wedged service."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_the_gateway_answers_503_when_a_service_is_down_or_silent(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        backend(stack_urls, isolation) as behind,
        silent_server() as silent,
    ):
        gateway = behind.gateway.model_copy(
            update={
                "messaging_url": f"http://127.0.0.1:{free_port()}",  # nothing listens
                "search_url": silent,
                "search_timeout_seconds": 0.5,
            }
        )
        async with (
            serving(create_gateway(gateway), gateway.port, ops_port=gateway.resolved_ops_port),
            httpx.AsyncClient(base_url=behind.url, timeout=30) as http,
        ):
            await wait_ready(gateway)
            owner = await new_tenant(http)
            down = await http.get("/v1/conversations", headers=owner.headers)
            legacy = await http.get(
                "/api/conversations/65f0c0ffee0123456789abcd/messages", headers=owner.headers
            )
            silent_search = await http.get(
                "/v1/search/messages", params={"q": "x"}, headers=owner.headers
            )
    assert_unavailable(down, "messaging")
    assert_unavailable(legacy, "messaging")
    assert_unavailable(silent_search, "did not answer in time")  # a 503, not a 504


async def test_a_service_or_the_gateway_at_capacity_answers_503_at_once(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with backend(stack_urls, isolation) as behind:
        limited = messaging_settings(
            stack_urls, isolation, behind.auth_url, max_in_flight=1, port=free_port()
        )
        gateway = behind.gateway.model_copy(
            update={"messaging_url": f"http://127.0.0.1:{limited.port}", "max_in_flight": 1}
        )
        async with (
            serving(create_messaging(limited), limited.port) as messaging_url,
            serving(create_gateway(gateway), gateway.port, ops_port=gateway.resolved_ops_port),
            httpx.AsyncClient(base_url=behind.url, timeout=30) as http,
            httpx.AsyncClient(base_url=messaging_url, timeout=30) as direct,
            # Every service's metrics are this process's: read at the gateway's ops listener.
            httpx.AsyncClient(base_url=ops_url(gateway), timeout=30) as metrics,
        ):
            await wait_ready(gateway)
            owner = await new_tenant(http)
            json_body = {"content-type": "application/json"}

            # Messaging full (one request held at it): the gateway relays its 503.
            at_messaging = group_body("held at messaging")
            holding = asyncio.create_task(
                direct.post(
                    "/v1/conversations",
                    content=at_messaging,
                    headers=identity_headers(owner.tenant_id) | json_body,
                )
            )
            await until_in_flight(metrics, "messaging", 1)
            relayed = await http.get("/v1/conversations", headers=owner.headers)
            at_messaging.release()
            assert (await holding).status_code == 201

            # The gateway full (one request held at it): it refuses by itself.
            at_gateway = group_body("held at the gateway")
            holding = asyncio.create_task(
                http.post(
                    "/v1/conversations", content=at_gateway, headers=owner.headers | json_body
                )
            )
            await until_in_flight(metrics, "gateway", 1)
            refused = await http.get("/v1/conversations", headers=owner.headers)
            at_gateway.release()
            created = await holding
            after = await http.get("/v1/conversations", headers=owner.headers)
    assert_unavailable(relayed, "capacity")
    assert_unavailable(refused, "capacity")
    assert created.status_code == 201, created.text
    assert after.status_code == 200
    assert [c["title"] for c in after.json()["items"]] == ["held at the gateway"]


async def test_every_public_operation_documents_the_503_problem(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
    operations = {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
        and path not in {"/healthz", "/readyz", "/metrics"}  # never refused, so no 503 to list
    }
    assert "GET /v1/conversations/{conversation_id}/messages" in operations
    assert "GET /api/conversations/{conversation_id}/messages" in operations
    undocumented = [
        name
        for name, operation in operations.items()
        if "application/problem+json"
        not in operation["responses"].get("503", {}).get("content", {})
        or "Retry-After" not in operation["responses"]["503"].get("headers", {})
    ]
    assert undocumented == []
    assert "Problem" in document["components"]["schemas"]
