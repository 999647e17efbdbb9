"""The whole platform in one test process: auth, messaging, search and the gateway, each on a
real loopback port with its own isolated names, against the real engines."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from parley_auth.main import create_app as create_auth
from parley_auth.settings import AuthSettings
from parley_gateway.main import create_app as create_gateway
from parley_gateway.settings import GatewaySettings
from parley_kit.testing.servers import free_port, serving
from parley_kit.testing.stack import Isolation, StackUrls, search_engine
from parley_messaging.main import create_app as create_messaging
from parley_messaging.settings import MessagingSettings
from parley_search.main import create_app as create_search
from parley_search.settings import SearchSettings

SECRET = "gateway-test-secret"


@dataclass(frozen=True)
class Platform:
    url: str  # the gateway
    auth_url: str
    messaging_url: str
    search_url: str
    gateway: GatewaySettings


def _common(urls: StackUrls, names: Isolation, auth_url: str) -> dict[str, object]:
    return {
        "mongo_url": urls.mongo_url,
        "redis_url": urls.redis_url,
        "redis_prefix": names.redis_prefix,
        "kafka_bootstrap": urls.kafka_bootstrap,
        "topic_prefix": names.topic_prefix,
        "kafka_partitions": 2,
        "jwks_url": f"{auth_url}/.well-known/jwks.json",
        "internal_secret": SECRET,
        "log_json": False,
    }


@contextlib.asynccontextmanager
async def platform(
    urls: StackUrls,
    names: Isolation,
    auth_overrides: dict[str, object] | None = None,
    **gateway_overrides: object,
) -> AsyncIterator[Platform]:
    """The three services and a gateway in front of them."""
    async with (
        backend(urls, names, auth_overrides, **gateway_overrides) as behind,
        serving(
            create_gateway(behind.gateway),
            behind.gateway.port,
            ops_port=behind.gateway.resolved_ops_port,
        ),
    ):
        await wait_ready(behind.gateway)
        yield behind


@contextlib.asynccontextmanager
async def two_gateways(behind: Platform) -> AsyncIterator[str]:
    """Two gateway replicas in front of `behind`'s services, both ready: the first at
    `behind.url`, the second at the URL yielded (as two pods behind one load balancer)."""
    first = behind.gateway
    second = first.model_copy(update={"port": free_port(), "ops_port": free_port()})
    async with (
        serving(create_gateway(first), first.port, ops_port=first.resolved_ops_port),
        serving(create_gateway(second), second.port, ops_port=second.resolved_ops_port),
    ):
        await wait_ready(first)
        await wait_ready(second)
        yield f"http://127.0.0.1:{second.port}"


@contextlib.asynccontextmanager
async def backend(
    urls: StackUrls,
    names: Isolation,
    auth_overrides: dict[str, object] | None = None,
    **gateway_overrides: object,
) -> AsyncIterator[Platform]:
    """Auth, messaging and search running; the gateway's settings, for the test to serve it."""
    ports = {name: free_port() for name in ("auth", "messaging", "search", "gateway")}
    auth_url, messaging_url, search_url, gateway_url = (
        f"http://127.0.0.1:{ports[name]}" for name in ("auth", "messaging", "search", "gateway")
    )
    common = _common(urls, names, auth_url)
    auth = AuthSettings.model_validate(
        common | {"mongo_db": f"{names.mongo_db}_auth"} | (auth_overrides or {})
    )
    messaging = MessagingSettings.model_validate(
        common
        | {
            "mongo_db": f"{names.mongo_db}_messaging",
            "auth_url": auth_url,
            "outbox_poll_seconds": 0.1,
        }
    )
    search = SearchSettings.model_validate(
        common
        | {
            "engine": search_engine(urls.elasticsearch_url),
            "elasticsearch_url": urls.elasticsearch_url,
            "index_prefix": names.index_prefix,
            "consumer_group": f"{names.name}-search",
            "messaging_url": messaging_url,
            "membership_cache_seconds": 0,
            "flush_interval_ms": 50,
        }
    )
    gateway = GatewaySettings.model_validate(
        common
        | {
            "auth_url": auth_url,
            "messaging_url": messaging_url,
            "search_url": search_url,
            "port": ports["gateway"],
            "ops_port": free_port(),
        }
        | gateway_overrides
    )
    async with (
        serving(create_auth(auth), ports["auth"]),
        serving(create_messaging(messaging), ports["messaging"]),
        serving(create_search(search), ports["search"]),
    ):
        yield Platform(gateway_url, auth_url, messaging_url, search_url, gateway)


def ops_url(gateway: GatewaySettings) -> str:
    """The gateway's ops listener (`/readyz`, `/metrics`), never its public port."""
    return f"http://127.0.0.1:{gateway.resolved_ops_port}"


async def wait_ready(gateway: GatewaySettings, timeout: float = 60.0) -> None:
    """Until the gateway's `/readyz` answers 200 (its relay has joined the consumer group)."""
    async with httpx.AsyncClient(base_url=ops_url(gateway), timeout=5.0) as http:
        async with asyncio.timeout(timeout):
            while (await http.get("/readyz")).status_code != 200:  # noqa: ASYNC110 - polling HTTP
                await asyncio.sleep(0.1)
