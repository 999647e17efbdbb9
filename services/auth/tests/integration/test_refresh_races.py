"""Spending a refresh token is atomic on the real document engine: of parallel refreshes with
one token exactly one wins, and the reuse ends the session, the winner's new tokens included.
Two auth replicas serve the refreshes over HTTP, so nothing in one process can serialise them."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from asgi_lifespan import LifespanManager
from auth_factories import cheap_hasher, login_body, make_settings, tenant_body

from parley_auth.main import create_app
from parley_kit.testing.servers import serving
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


@pytest.fixture
async def replicas(
    stack_urls: StackUrls, isolation: Isolation
) -> AsyncIterator[list[httpx.AsyncClient]]:
    settings = make_settings(stack_urls, isolation)
    async with (
        serving(create_app(settings, password_hasher=cheap_hasher())) as first,
        serving(create_app(settings, password_hasher=cheap_hasher())) as second,
        httpx.AsyncClient(base_url=first, timeout=30) as one,
        httpx.AsyncClient(base_url=second, timeout=30) as two,
    ):
        yield [one, two]


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/auth/refresh", json={"refresh_token": token})


@pytest.mark.parametrize("parallel", [4, 16])
async def test_parallel_refreshes_of_one_token_have_exactly_one_winner_and_end_the_session(
    replicas: list[httpx.AsyncClient], parallel: int
) -> None:
    one = replicas[0]
    slug = f"race{parallel}"
    created = await one.post("/v1/tenants", json=tenant_body(slug))
    assert created.status_code == 201, created.text
    token = created.json()["tokens"]["refresh_token"]

    answers = await asyncio.gather(*(refresh(replicas[i % 2], token) for i in range(parallel)))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 401: parallel - 1}, statuses
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    assert (await refresh(one, winner["refresh_token"])).status_code == 401, (
        "the reuse ended the session, the winner's new refresh token with it"
    )
    assert (await refresh(one, token)).status_code == 401
    again = await one.post("/v1/auth/login", json=login_body(slug, "owner", "owner-pass-1"))
    assert again.status_code == 200, "the account itself is not locked"
    assert (await refresh(one, again.json()["refresh_token"])).status_code == 200


async def test_a_session_rotates_and_a_late_replay_of_any_spent_token_ends_it(
    replicas: list[httpx.AsyncClient],
) -> None:
    one, two = replicas
    created = await one.post("/v1/tenants", json=tenant_body("rotate"))
    first = created.json()["tokens"]["refresh_token"]
    second = (await refresh(two, first)).json()["refresh_token"]
    third = (await refresh(one, second)).json()["refresh_token"]

    replay = await refresh(two, first)

    assert replay.status_code == 401
    assert "reused" in replay.json()["detail"]
    assert (await refresh(one, third)).status_code == 401


async def test_tokens_that_are_not_the_holders_change_nothing(
    replicas: list[httpx.AsyncClient],
) -> None:
    one = replicas[0]
    created = await one.post("/v1/tenants", json=tenant_body("forged"))
    token = created.json()["tokens"]["refresh_token"]
    tenant, session, token_id, secret = token.split(".")
    wrong_secret = f"{tenant}.{session}.{token_id}.{'A' * 43}"
    other_tenant = f"{'0' * 24}.{session}.{token_id}.{secret}"

    for forged in (wrong_secret, other_tenant, "garbage", token + "x"):
        assert (await refresh(one, forged)).status_code == 401, forged
    assert (await refresh(one, token)).status_code == 200, "the holder's session lives on"


async def test_logout_ends_the_session_on_every_replica(
    replicas: list[httpx.AsyncClient],
) -> None:
    one, two = replicas
    created = await one.post("/v1/tenants", json=tenant_body("logout"))
    token = created.json()["tokens"]["refresh_token"]
    newer = (await refresh(one, token)).json()["refresh_token"]

    assert (await two.post("/v1/auth/logout", json={"refresh_token": newer})).status_code == 204
    assert (await refresh(one, newer)).status_code == 401
    assert (await two.post("/v1/auth/logout", json={"refresh_token": newer})).status_code == 401


async def test_replicas_starting_together_on_an_empty_store_share_one_signing_key(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation)
    apps = [create_app(settings, password_hasher=cheap_hasher()) for _ in range(3)]
    async with AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(LifespanManager(app, startup_timeout=60)) for app in apps)
        )
        published = [app.state.signing_keys.jwks()["keys"] for app in apps]

    kids = [{key["kid"] for key in keys} for keys in published]
    assert kids[0] == kids[1] == kids[2]
    assert len(kids[0]) == 1
