"""Auth's per-client bounds as an attacker meets them: an X-Forwarded-For picks no client
address unless it comes with the internal secret (another service) or from a trusted proxy."""

import pytest
from auth_factories import from_address, make_settings, running_auth, tenant_body

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


async def test_a_spoofed_forwarded_for_does_not_escape_the_signup_bound(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation, signups_per_ip=1)
    async with running_auth(settings) as auth:
        first = await auth.post(
            "/v1/tenants", json=tenant_body("spoof-a"), headers={"X-Forwarded-For": "198.51.100.1"}
        )
        spoofed = await auth.post(
            "/v1/tenants", json=tenant_body("spoof-b"), headers={"X-Forwarded-For": "198.51.100.2"}
        )
        # A service holding the internal secret says whose call it forwards: another client.
        forwarded = await auth.post(
            "/v1/tenants",
            json=tenant_body("spoof-c"),
            headers=from_address("198.51.100.3", settings),
        )
    assert first.status_code == 201, first.text
    assert spoofed.status_code == 429  # the peer's bound, whatever the header claimed
    assert forwarded.status_code == 201, forwarded.text


async def test_a_trusted_proxy_names_the_client(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(
        stack_urls, isolation, signups_per_ip=1, trusted_proxies=["127.0.0.0/8"]
    )
    async with running_auth(settings) as auth:  # the in-process client's peer is 127.0.0.1
        answers = [
            await auth.post(
                "/v1/tenants", json=tenant_body(f"proxied-{n}"), headers={"X-Forwarded-For": ip}
            )
            for n, ip in enumerate(["198.51.100.1", "198.51.100.2", "198.51.100.1"])
        ]
    assert [a.status_code for a in answers] == [201, 201, 429]
