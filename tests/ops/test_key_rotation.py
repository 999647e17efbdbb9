"""Signing-key rotation under traffic: stage, promote and retire run (through the CLI, as an
operator runs them) while clients keep calling the gateway, messaging and an auth replica with
their tokens and keep refreshing them (through the gateway and straight at the other auth
replica). Not one call is refused; afterwards a token signed by the retired key is refused
everywhere, though that same token was accepted while the key was retiring.

The gateways and messaging keep their JWKS for the default 300 s, so they accept the new key
by refetching on its unknown `kid`, not by a cache that happened to expire."""

import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from ops.ops_suite import ACCESS_TOKEN_SECONDS, ReplicatedSuite
from pymongo import AsyncMongoClient

from parley_kit.testing.stack import repo_root

pytestmark = pytest.mark.e2e

PATIENCE_SECONDS = 120.0  # every wait below ends well before; past it the test fails
REFRESH_EVERY = 8  # rounds of calls between refreshes (a round is four calls)
MADE_UP_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


@dataclass
class Caller:
    access_token: str
    refresh_token: str
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    kids_accepted: set[str] = field(default_factory=set)
    rounds: int = 0


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_caller(http: httpx.AsyncClient, gateway: str) -> Caller:
    slug = f"k{uuid.uuid4().hex[:10]}"
    owner = {"username": "ada", "email": f"ada@{slug}.example.com", "password": "rotate me 1"}
    created = await http.post(
        f"{gateway}/v1/tenants", json={"name": slug, "slug": slug, "owner": owner}
    )
    assert created.status_code == 201, created.text
    tokens = created.json()["tokens"]
    return Caller(tokens["access_token"], tokens["refresh_token"])


def verifiers(suite: ReplicatedSuite) -> list[str]:
    """A route of each process that verifies tokens itself."""
    return [
        f"{suite.url('gateway')}/v1/auth/me",
        f"{suite.url('gateway-2')}/v1/conversations",
        f"{suite.url('messaging')}/v1/conversations",
        f"{suite.url('auth-2')}/v1/auth/me",
    ]


async def keep_calling(
    http: httpx.AsyncClient, suite: ReplicatedSuite, caller: Caller, stop: asyncio.Event
) -> None:
    calls = {
        "gateway me": f"{suite.url('gateway')}/v1/auth/me",
        "gateway-2 conversations": f"{suite.url('gateway-2')}/v1/conversations",
        "messaging conversations": f"{suite.url('messaging')}/v1/conversations",
        "auth-2 me": f"{suite.url('auth-2')}/v1/auth/me",
    }
    refreshes = (suite.url("gateway"), suite.url("auth-2"))
    while not stop.is_set():
        caller.rounds += 1
        if caller.rounds % REFRESH_EVERY == 0:
            where = refreshes[(caller.rounds // REFRESH_EVERY) % 2]
            answer = await http.post(
                f"{where}/v1/auth/refresh", json={"refresh_token": caller.refresh_token}
            )
            caller.answers["refresh", answer.status_code] += 1
            if answer.status_code == 200:
                caller.access_token = answer.json()["access_token"]
                caller.refresh_token = answer.json()["refresh_token"]
        token = caller.access_token
        for name, url in calls.items():
            answer = await http.get(url, headers=bearer(token))
            caller.answers[name, answer.status_code] += 1
            if answer.status_code == 200:
                caller.kids_accepted.add(kid_of(token))
        await asyncio.sleep(0.05)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE_SECONDS
    while not await condition():
        assert loop.time() < give_up, f"gave up waiting: {what}"
        await asyncio.sleep(0.2)


def documented_steps() -> dict[str, str]:
    """The `make keys` lines of docs/operations.md, "Key rotation", by step."""
    text = (repo_root() / "docs" / "operations.md").read_text()
    section = re.search(r"^## Key rotation\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "docs/operations.md has no Key rotation section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return {
        found.group(1): line
        for line in lines
        if line.startswith("make keys") and (found := re.search(r"KEYS=(\w+)", line))
    }


def as_documented(suite: ReplicatedSuite, step: str) -> subprocess.CompletedProcess[str]:
    """A rotation step as the operator types it, with auth's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return subprocess.run(
        ["bash", "-c", documented_steps()[step]],
        cwd=repo_root(),
        env=env | suite.environment("auth"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def step(suite: ReplicatedSuite, name: str) -> None:
    """Run a rotation step, repeating it while it is refused for being early (what an operator
    or a Job does: wait and try again)."""

    async def done() -> bool:
        ran = await asyncio.to_thread(as_documented, suite, name)
        assert ran.returncode == 0 or "refused:" in ran.stderr, ran.stderr
        return ran.returncode == 0

    await until(done, f"rotation step {name}")


async def run(suite: ReplicatedSuite, name: str) -> list[dict[str, Any]]:
    ran = await asyncio.to_thread(as_documented, suite, name)
    assert ran.returncode == 0, ran.stderr
    return [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]


async def current_kid(suite: ReplicatedSuite) -> str:
    keys = await run(suite, "status")
    return next(str(key["kid"]) for key in keys if key["state"] == "current")


async def private_pem(suite: ReplicatedSuite, kid: str) -> str:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(suite.urls.mongo_url)
    try:
        record = await mongo[f"{suite.names.mongo_db}_auth"]["signing_keys"].find_one({"kid": kid})
    finally:
        await mongo.close()
    assert record is not None
    return str(record["private_pem"])


def signed_again(token: str, pem: str, kid: str) -> str:
    """The claims of `token`, fresh, signed by the key `pem` as `kid`."""
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims |= {"iat": now, "exp": now + ACCESS_TOKEN_SECONDS, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


async def test_keys_rotate_while_clients_call_and_refresh_and_no_call_is_refused(
    ops_suite: ReplicatedSuite,
) -> None:
    suite = ops_suite
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=30) as http:
        callers = [await new_caller(http, suite.url("gateway")) for _ in range(3)]
        calling = [asyncio.create_task(keep_calling(http, suite, c, stop)) for c in callers]
        try:
            old = await current_kid(suite)

            async def everyone_called(rounds: int) -> bool:
                return all(c.rounds >= rounds for c in callers)

            await until(lambda: everyone_called(REFRESH_EVERY), "first calls")
            staged = await run(suite, "stage")
            ready = datetime.fromisoformat(staged[0]["ready_at"])
            await asyncio.sleep(max(0.0, (ready - datetime.now(UTC)).total_seconds()) + 0.2)
            # Every verifier fetches its JWKS a moment before the promotion (a token of a
            # made-up key makes it): the promoted key's first tokens come right after that.
            made_up = signed_again(callers[0].access_token, MADE_UP_PEM, "made-up")
            for url in verifiers(suite):
                assert (await http.get(url, headers=bearer(made_up))).status_code == 401
            await step(suite, "promote")
            new = await current_kid(suite)
            assert new != old

            async def new_key_accepted() -> bool:
                return all(new in c.kids_accepted for c in callers)

            await until(new_key_accepted, "calls with tokens of the promoted key")
            pem = await private_pem(suite, old)
            retiring = signed_again(callers[0].access_token, pem, old)
            accepted = await http.get(
                f"{suite.url('gateway')}/v1/auth/me", headers=bearer(retiring)
            )
            assert accepted.status_code == 200, "a retiring key still verifies"

            await step(suite, "retire")
            rounds = max(c.rounds for c in callers)
            await until(lambda: everyone_called(rounds + REFRESH_EVERY), "calls after retiring")
        finally:
            stop.set()
            await asyncio.gather(*calling)

        answers = sum((c.answers for c in callers), Counter[tuple[str, int]]())
        refused = {key: count for key, count in answers.items() if key[1] != 200}
        assert not refused, f"calls not answered 200 during the rotation: {refused}"
        assert {old, new} <= set().union(*(c.kids_accepted for c in callers))

        retired = signed_again(callers[0].access_token, pem, old)
        for url in verifiers(suite):
            answer = await http.get(url, headers=bearer(retired))
            assert answer.status_code == 401, (url, answer.text)


def test_make_keys_runs_the_rotation_step_it_names() -> None:
    """`make keys` (docs/operations.md) is the CLI this test drives, with the step and --force."""
    dry = subprocess.run(
        ["make", "-n", "keys", "KEYS=promote", "FORCE=1"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        check=True,
    )
    [command] = [line for line in dry.stdout.splitlines() if "parley_auth.rotation" in line]
    env = {"KEYS": "promote", "FORCE": "1", "PATH": os.environ["PATH"]}
    shown = subprocess.run(
        ["sh", "-c", f"echo {command.split('parley_auth.rotation', 1)[1]}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "-m parley_auth.rotation" in command
    assert shown.stdout.split() == ["promote", "--force"]
