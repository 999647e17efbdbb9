"""Login, signup and tenant-creation bounds: atomic under parallel requests, keyed so that a
stranger's guesses never lock the user out, and shared by every entrance."""

import asyncio
from collections import Counter

import httpx
import pytest
from auth_factories import (
    CountingHasher,
    from_address,
    login_body,
    make_settings,
    running_auth,
    signup_body,
    tenant_body,
)

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

WRONG = "wrong-pass-1"
RIGHT = "owner-pass-1"


async def test_parallel_wrong_guesses_check_exactly_the_limit(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(
        stack_urls, isolation, password_hashes_per_ip=64, password_hashes_in_flight=64
    )
    hasher = CountingHasher()
    async with running_auth(settings, hasher) as auth:
        await auth.post("/v1/tenants", json=tenant_body("guess"))
        checked_before = hasher.verified
        headers = from_address("198.51.100.7", settings)

        answers = await asyncio.gather(
            *(
                auth.post(
                    "/v1/auth/login", json=login_body("guess", "owner", WRONG), headers=headers
                )
                for _ in range(40)
            )
        )

    assert Counter(a.status_code for a in answers) == {401: 5, 429: 35}
    assert hasher.verified - checked_before == 5, "only the admitted guesses were checked"
    refused = next(a for a in answers if a.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 900


async def test_a_strangers_guesses_do_not_lock_the_user_out(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation)
    stranger = from_address("203.0.113.66", settings)
    user = from_address("192.0.2.10", settings)
    async with running_auth(settings) as auth:
        await auth.post("/v1/tenants", json=tenant_body("victim"))
        guesses = [
            (
                await auth.post(
                    "/v1/auth/login", json=login_body("victim", "owner", WRONG), headers=stranger
                )
            ).status_code
            for _ in range(6)
        ]
        stranger_with_the_password = await auth.post(
            "/v1/auth/login", json=login_body("victim", "owner", RIGHT), headers=stranger
        )
        users_login = await auth.post(
            "/v1/auth/login", json=login_body("victim", "owner", RIGHT), headers=user
        )

    assert guesses == [401] * 5 + [429]
    assert stranger_with_the_password.status_code == 429
    assert users_login.status_code == 200, users_login.text


async def test_guessing_one_account_from_many_addresses_slows_down(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation, login_failures_per_account=3)
    async with running_auth(settings) as auth:
        await auth.post("/v1/tenants", json=tenant_body("spread"))

        async def guess(ip: str) -> httpx.Response:
            return await auth.post(
                "/v1/auth/login",
                json=login_body("spread", "owner", WRONG),
                headers=from_address(ip, settings),
            )

        free = [(await guess(f"10.1.0.{n}")).status_code for n in range(3)]
        delayed = await asyncio.gather(*(guess(f"10.2.0.{n}") for n in range(10)))

    assert free == [401, 401, 401]
    assert Counter(a.status_code for a in delayed) == {401: 1, 429: 9}, (
        "past the free failures, one attempt per delay from all addresses together"
    )
    assert all(int(a.headers["retry-after"]) >= 1 for a in delayed if a.status_code == 429)


async def test_one_address_guessing_many_accounts_hits_its_own_ceiling(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation, login_failures_per_ip=3)
    async with running_auth(settings) as auth:
        await auth.post("/v1/tenants", json=tenant_body("sweep"))
        headers = from_address("198.51.100.9", settings)
        statuses = [
            (
                await auth.post(
                    "/v1/auth/login", json=login_body("sweep", name, WRONG), headers=headers
                )
            ).status_code
            for name in ("ann", "ben", "cat", "dan")
        ]
        elsewhere = await auth.post(
            "/v1/auth/login",
            json=login_body("sweep", "owner", RIGHT),
            headers=from_address("198.51.100.10", settings),
        )

    assert statuses == [401, 401, 401, 429]
    assert elsewhere.status_code == 200


async def test_a_successful_login_does_not_count_as_a_failure(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation, login_failures_per_login=2)
    async with running_auth(settings) as auth:
        await auth.post("/v1/tenants", json=tenant_body("fine"))
        headers = from_address("192.0.2.44", settings)
        statuses = [
            (
                await auth.post(
                    "/v1/auth/login", json=login_body("fine", "owner", RIGHT), headers=headers
                )
            ).status_code
            for _ in range(4)
        ]
    assert statuses == [200] * 4


async def test_parallel_signups_from_one_address_create_exactly_the_limit(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation, signups_per_ip=4)
    async with running_auth(settings) as auth:
        owner_ip = from_address("192.0.2.1", settings)
        created = await auth.post("/v1/tenants", json=tenant_body("flood"), headers=owner_ip)
        headers = from_address("198.51.100.20", settings)

        answers = await asyncio.gather(
            *(
                auth.post("/v1/auth/signup", json=signup_body("flood", f"bot{n}"), headers=headers)
                for n in range(30)
            )
        )
        elsewhere = await auth.post(
            "/v1/auth/signup",
            json=signup_body("flood", "human"),
            headers=from_address("192.0.2.2", settings),
        )
        users = await auth.get(
            "/v1/users",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {created.json()['tokens']['access_token']}"},
        )

    assert Counter(a.status_code for a in answers) == {201: 4, 429: 26}
    assert elsewhere.status_code == 201
    assert len(users.json()["items"]) == 1 + 4 + 1


async def test_signup_and_tenant_creation_share_one_bound_on_every_entrance(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(
        stack_urls, isolation, signups_per_ip=3, tenant_creation_per_ip_per_hour=2
    )
    async with running_auth(settings) as auth:
        ip = from_address("198.51.100.30", settings)
        first = await auth.post("/v1/tenants", json=tenant_body("shared-a"), headers=ip)
        second = await auth.post("/v1/tenants", json=tenant_body("shared-b"), headers=ip)
        # The legacy `/api` signup reaches the same limits: it creates its tenant here.
        legacy_new = await auth.post(
            "/internal/v1/tenants:ensure", json={"slug": "t42", "name": "Tenant 42"}, headers=ip
        )
        legacy_existing = await auth.post(
            "/internal/v1/tenants:ensure",
            json={"slug": "shared-a", "name": "Tenant A"},
            headers=ip,
        )
        third_account = await auth.post(
            "/v1/auth/signup", json=signup_body("shared-a", "carol"), headers=ip
        )
        fourth_account = await auth.post(
            "/v1/auth/signup", json=signup_body("shared-a", "dave"), headers=ip
        )
        other_ip = from_address("198.51.100.31", settings)
        elsewhere = await auth.post(
            "/internal/v1/tenants:ensure",
            json={"slug": "t42", "name": "Tenant 42"},
            headers=other_ip,
        )

    assert [first.status_code, second.status_code] == [201, 201]
    assert legacy_new.status_code == 429, "two tenants already came from this address"
    assert legacy_existing.status_code == 200, "finding an existing tenant creates nothing"
    assert third_account.status_code == 201
    assert fourth_account.status_code == 429, "two owners and one member: the bound is 3"
    assert elsewhere.status_code == 200
