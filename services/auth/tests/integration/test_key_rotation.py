"""Signing-key rotation through its CLI, as an operator runs it, against two auth replicas on the
real engines: each step reaches both replicas, a key signs only once promoted, a replaced key is
published with its expiry, and the steps that could break tokens refuse unless forced."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from auth_factories import cheap_hasher, login_body, make_settings, tenant_body
from pymongo import AsyncMongoClient

from parley_auth.keys import _generate_pem, _public_jwk
from parley_auth.main import create_app
from parley_auth.settings import AuthSettings
from parley_kit.testing.servers import serving
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

PATIENCE_SECONDS = 30.0


@pytest.fixture
def settings(stack_urls: StackUrls, isolation: Isolation) -> AuthSettings:
    return make_settings(
        stack_urls,
        isolation,
        access_token_seconds=60,
        key_publish_seconds=3600,  # promotion waits unless forced
        key_retire_margin_seconds=0,
        key_poll_seconds=0.05,
    )


@pytest.fixture
async def replicas(settings: AuthSettings) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with (
        serving(create_app(settings, password_hasher=cheap_hasher())) as first,
        serving(create_app(settings, password_hasher=cheap_hasher())) as second,
        httpx.AsyncClient(base_url=first, timeout=30) as one,
        httpx.AsyncClient(base_url=second, timeout=30) as two,
    ):
        yield [one, two]


def rotation(settings: AuthSettings, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m parley_auth.rotation ...` configured like a deployment: by environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")} | {
        "PARLEY_AUTH_MONGO_URL": settings.mongo_url,
        "PARLEY_AUTH_MONGO_DB": settings.mongo_db,
        "PARLEY_AUTH_REDIS_URL": settings.redis_url,
        "PARLEY_AUTH_REDIS_PREFIX": settings.redis_prefix,
        "PARLEY_AUTH_ACCESS_TOKEN_SECONDS": str(settings.access_token_seconds),
        "PARLEY_AUTH_KEY_PUBLISH_SECONDS": str(settings.key_publish_seconds),
        "PARLEY_AUTH_KEY_RETIRE_MARGIN_SECONDS": str(settings.key_retire_margin_seconds),
    }
    return subprocess.run(
        [sys.executable, "-m", "parley_auth.rotation", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def keys_of(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def published(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    answer = await client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    return {key["kid"]: key for key in answer.json()["keys"]}


async def until(condition: Callable[[], Any]) -> None:
    """Wait for replicas to follow the store (they poll it); fail if they never do."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE_SECONDS
    while not await condition():
        assert loop.time() < give_up, "the replicas did not follow the store"
        await asyncio.sleep(0.05)


async def signing_kid(client: httpx.AsyncClient, slug: str) -> str:
    answer = await client.post("/v1/auth/login", json=login_body(slug, "owner", "owner-pass-1"))
    assert answer.status_code == 200, answer.text
    return str(jwt.get_unverified_header(answer.json()["access_token"])["kid"])


async def test_stage_promote_retire_reach_every_replica_and_refuse_what_would_break_tokens(
    replicas: list[httpx.AsyncClient], settings: AuthSettings
) -> None:
    one = replicas[0]
    created = await one.post("/v1/tenants", json=tenant_body("keys"))
    assert created.status_code == 201, created.text
    [first] = keys_of(rotation(settings, "status"))
    assert first["state"] == "current"
    old = first["kid"]

    [staged] = keys_of(rotation(settings, "stage"))
    new = staged["kid"]
    assert staged["state"] == "staged"
    assert new != old
    assert keys_of(rotation(settings, "stage"))[0]["kid"] == new, "stage again: the same key"

    async def both_publish_the_staged_key() -> bool:
        return all([new in await published(client) for client in replicas])

    await until(both_publish_the_staged_key)
    assert {await signing_kid(client, "keys") for client in replicas} == {old}, (
        "a staged key signs nothing"
    )

    refused = rotation(settings, "promote")
    assert refused.returncode == 1
    assert "published only since" in refused.stderr
    [promoted] = keys_of(rotation(settings, "promote", "--force"))
    assert promoted["state"] == "current"

    async def both_sign_with_the_new_key() -> bool:
        return {await signing_kid(client, "keys") for client in replicas} == {new}

    await until(both_sign_with_the_new_key)
    for client in replicas:
        keys = await published(client)
        assert set(keys) == {old, new}
        assert "exp" not in keys[new]
        assert keys[old]["exp"] == int(
            datetime.fromisoformat(promoted["promoted_at"]).timestamp()
            + settings.access_token_seconds
        ), "published until every token it signed has expired"

    refused = rotation(settings, "retire")
    assert refused.returncode == 1
    assert "may still be valid" in refused.stderr
    [retired] = keys_of(rotation(settings, "retire", "--force"))
    assert (retired["kid"], retired["state"]) == (old, "retired")

    async def neither_publishes_the_old_key() -> bool:
        return all([set(await published(client)) == {new} for client in replicas])

    await until(neither_publishes_the_old_key)
    states = {key["kid"]: key["state"] for key in keys_of(rotation(settings, "status"))}
    assert states == {old: "retired", new: "current"}
    assert rotation(settings, "retire").returncode == 1, "nothing left to retire"


async def test_keys_written_before_rotation_had_stages_keep_their_meaning(
    settings: AuthSettings,
) -> None:
    now = datetime.now(UTC)
    long_gone, replaced, current = (_generate_pem() for _ in range(3))
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    try:
        await mongo[settings.mongo_db]["signing_keys"].insert_many(
            [
                legacy(long_gone, now - timedelta(days=2), retired=now - timedelta(days=1)),
                legacy(replaced, now - timedelta(days=1), retired=now - timedelta(seconds=5)),
                legacy(current, now - timedelta(seconds=5), retired=None),
            ]
        )
    finally:
        await mongo.close()

    async with (
        serving(create_app(settings, password_hasher=cheap_hasher())) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        keys = await published(client)
        created = await client.post("/v1/tenants", json=tenant_body("legacy"))
        assert created.status_code == 201, created.text
        token = created.json()["tokens"]["access_token"]

    replaced_kid, current_kid = _public_jwk(replaced)[0], _public_jwk(current)[0]
    assert set(keys) == {replaced_kid, current_kid}, "the one retired a day ago stays withdrawn"
    assert keys[replaced_kid]["state"] == "retiring"
    assert "exp" not in keys[current_kid]
    assert jwt.get_unverified_header(token)["kid"] == current_kid


def legacy(pem: str, created: datetime, retired: datetime | None) -> dict[str, Any]:
    """A signing key document as auth wrote it before stages: `retired_at` = stopped signing."""
    kid, jwk = _public_jwk(pem)
    return {
        "kid": kid,
        "private_pem": pem,
        "public_jwk": jwk,
        "created_at": created,
        "retired_at": retired,
    }
