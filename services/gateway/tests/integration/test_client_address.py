"""The edge as an attacker meets it: X-Forwarded-For picks no rate-limit key unless a trusted
proxy sent it, and readiness and metrics are not on the public port."""

import httpx
import pytest
from gateway_suite import Platform, ops_url, platform

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

# Two anonymous calls per client address, then 429 (the bucket refills far slower than a test).
TIGHT = {"ip_burst": 2, "ip_rate_per_second": 0.001}


async def login(http: httpx.AsyncClient, forwarded_for: str) -> int:
    response = await http.post(
        "/v1/auth/login", json={}, headers={"X-Forwarded-For": forwarded_for}
    )
    return response.status_code


async def test_a_spoofed_forwarded_for_does_not_change_the_rate_limit_key(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation, **TIGHT) as suite,
        httpx.AsyncClient(base_url=suite.url, timeout=10) as http,
    ):
        # Each call claims another address; the peer (127.0.0.1, no proxy) is the key.
        statuses = [await login(http, f"198.51.100.{n}") for n in range(1, 5)]
    assert statuses[:2] != [429, 429]
    assert statuses[2:] == [429, 429]


async def test_behind_a_trusted_proxy_its_forwarded_address_is_the_key(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation, trusted_proxies=["127.0.0.0/8"], **TIGHT) as suite,
        httpx.AsyncClient(base_url=suite.url, timeout=10) as http,
    ):
        first = [await login(http, "198.51.100.1") for _ in range(3)]
        # A client that prepends addresses of its own still gets the one the proxy appended.
        prepended = await login(http, "203.0.113.50, 198.51.100.1")
        other_client = await login(http, "198.51.100.2")
    assert 429 not in first[:2]
    assert first[2] == 429
    assert prepended == 429
    assert other_client != 429


async def test_readiness_and_metrics_are_not_on_the_public_port(suite: Platform) -> None:
    async with (
        httpx.AsyncClient(base_url=suite.url, timeout=10) as public,
        httpx.AsyncClient(base_url=ops_url(suite.gateway), timeout=10) as ops,
    ):
        public_answers = [(await public.get(path)).status_code for path in ("/readyz", "/metrics")]
        ops_answers = [(await ops.get(path)).status_code for path in ("/readyz", "/metrics")]
        api_on_ops = await ops.get("/v1/conversations")
        socket_on_ops = await ops.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        socket_on_public = await public.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}
        )
    assert public_answers == [404, 404]
    assert ops_answers == [200, 200]
    assert api_on_ops.status_code == 404
    assert socket_on_ops.status_code == 404
    assert socket_on_public.status_code == 200  # the same handshake where sockets belong
