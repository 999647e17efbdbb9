"""Password hashing runs beside the event loop, bounded: while logins are being checked, every
other call of auth is still served, and a burst beyond capacity is refused at once."""

import asyncio
from collections import Counter

import httpx
import pytest
from auth_factories import (
    GatedHasher,
    bearer,
    from_address,
    login_body,
    make_settings,
    running_auth,
    tenant_body,
)

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


async def test_jwks_and_me_answer_while_logins_are_being_hashed(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation)
    hasher = GatedHasher()
    async with running_auth(settings, hasher) as auth:
        hasher.gate.set()  # the owner's own password is hashed normally
        created = (await auth.post("/v1/tenants", json=tenant_body("busy"))).json()
        hasher.gate.clear()

        logins = [
            asyncio.create_task(
                auth.post(
                    "/v1/auth/login",
                    json=login_body("busy", "owner", "wrong-pass-1"),
                    headers=from_address(f"203.0.113.{n}", settings),
                )
            )
            for n in range(20)
        ]
        # Every worker thread is inside a password check that cannot finish yet.
        assert await asyncio.to_thread(hasher.wait_for_waiting, settings.password_hash_workers)

        jwks = await auth.get("/.well-known/jwks.json")
        me = await auth.get("/v1/auth/me", headers=bearer(created["tokens"]["access_token"]))
        still_hashing = hasher.waiting
        logins_done = sum(login.done() for login in logins)

        hasher.gate.set()
        answers = await asyncio.gather(*logins)

    assert jwks.status_code == 200
    assert me.status_code == 200
    assert still_hashing == settings.password_hash_workers, "answered while hashes ran"
    assert logins_done == 0, "no login finished before the other calls were answered"
    assert Counter(a.status_code for a in answers) == {401: 20}


async def test_hashes_beyond_capacity_are_refused_at_once_with_retry_after(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(
        stack_urls, isolation, password_hashes_in_flight=6, password_hashes_per_ip=2
    )
    hasher = GatedHasher()
    async with running_auth(settings, hasher) as auth:
        hasher.gate.set()
        await auth.post("/v1/tenants", json=tenant_body("full"))
        hasher.gate.clear()

        def login(ip: str) -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(
                auth.post(
                    "/v1/auth/login",
                    json=login_body("full", "owner", "wrong-pass-1"),
                    headers=from_address(ip, settings),
                )
            )

        one_address = [login("198.51.100.1") for _ in range(4)]
        done, _ = await asyncio.wait(one_address, return_when=asyncio.FIRST_COMPLETED)
        per_address = [task.result() for task in done]
        many = [login(f"198.51.100.{n}") for n in range(10, 16)]
        done, _ = await asyncio.wait(many, return_when=asyncio.FIRST_COMPLETED)
        overall = [task.result() for task in done]

        hasher.gate.set()
        await asyncio.gather(*one_address, *many)

    assert {r.status_code for r in per_address} == {429}
    assert all(r.headers["retry-after"] == "1" for r in per_address)
    assert {r.status_code for r in overall} == {503}
    assert all(r.headers["retry-after"] == "1" for r in overall)
