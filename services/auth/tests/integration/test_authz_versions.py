"""Authorization versions: a role change or a replayed session outdates every access token the
user holds (their `av` falls below the version in Redis), refreshing brings the current roles,
and a flushed Redis copy is seeded from the store, never lowered."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from auth_factories import bearer, login_body, signup_body, tenant_body
from redis.asyncio import Redis

from parley_auth.authz import authz_key
from parley_auth.settings import AuthSettings
from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.testing.stack import StackUrls

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(stack_urls: StackUrls) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(stack_urls.redis_url, socket_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


async def stored_version(redis: Redis, settings: AuthSettings, tenant: str, user: str) -> int:
    value = await redis.get(authz_key(settings.redis_prefix, tenant, user))
    return int(value) if value is not None else -1


async def authz(
    auth: httpx.AsyncClient, settings: AuthSettings, tenant: str, user: str
) -> httpx.Response:
    return await auth.post(
        "/internal/v1/users:authz",
        json={"tenant_id": tenant, "user_id": user},
        headers={INTERNAL_TOKEN_HEADER: settings.internal_secret.get_secret_value()},
    )


async def test_a_role_change_outdates_the_users_tokens_and_refreshing_brings_the_new_roles(
    auth: httpx.AsyncClient, auth_settings: AuthSettings, redis: Redis
) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("versions"))).json()
    member = (await auth.post("/v1/auth/signup", json=signup_body("versions", "vic"))).json()
    tenant, vic = owner["tenant"]["id"], member["user"]["id"]
    before = claims(member["tokens"]["access_token"])

    changed = await auth.put(
        f"/v1/users/{vic}/roles",
        json={"roles": ["admin"]},
        headers=bearer(owner["tokens"]["access_token"]),
    )
    refreshed = await auth.post(
        "/v1/auth/refresh", json={"refresh_token": member["tokens"]["refresh_token"]}
    )

    assert changed.status_code == 200
    current = await stored_version(redis, auth_settings, tenant, vic)
    assert before["av"] < current, "the token issued before the change is outdated"
    after = claims(refreshed.json()["access_token"])
    assert after["av"] == current
    assert after["roles"] == ["admin"]
    owner_claims = claims(owner["tokens"]["access_token"])
    assert owner_claims["av"] >= await stored_version(
        redis, auth_settings, tenant, owner["user"]["id"]
    ), "other users' tokens stay current"


async def test_a_replayed_session_outdates_the_access_tokens_it_handed_out(
    auth: httpx.AsyncClient, auth_settings: AuthSettings, redis: Redis
) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("replay"))).json()
    tenant, user = owner["tenant"]["id"], owner["user"]["id"]
    spent = owner["tokens"]["refresh_token"]
    thief = (await auth.post("/v1/auth/refresh", json={"refresh_token": spent})).json()

    replay = await auth.post("/v1/auth/refresh", json={"refresh_token": spent})

    assert replay.status_code == 401
    assert claims(thief["access_token"])["av"] < await stored_version(
        redis, auth_settings, tenant, user
    )
    fresh = await auth.post("/v1/auth/login", json=login_body("replay", "owner", "owner-pass-1"))
    assert claims(fresh.json()["access_token"])["av"] == await stored_version(
        redis, auth_settings, tenant, user
    )


async def test_a_flushed_copy_is_seeded_from_the_store_and_never_lowered(
    auth: httpx.AsyncClient, auth_settings: AuthSettings, redis: Redis
) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("seed"))).json()
    member = (await auth.post("/v1/auth/signup", json=signup_body("seed", "sal"))).json()
    tenant, sal = owner["tenant"]["id"], member["user"]["id"]
    owner_headers = bearer(owner["tokens"]["access_token"])
    for roles in (["admin"], ["member"]):
        await auth.put(f"/v1/users/{sal}/roles", json={"roles": roles}, headers=owner_headers)
    key = authz_key(auth_settings.redis_prefix, tenant, sal)

    await redis.delete(key)
    seeded = await authz(auth, auth_settings, tenant, sal)
    await redis.set(key, 99)
    not_lowered = await authz(auth, auth_settings, tenant, sal)
    unknown = await authz(auth, auth_settings, tenant, "0" * 24)
    other_tenant = await authz(auth, auth_settings, "0" * 24, sal)

    assert seeded.status_code == 200
    assert seeded.json() == {"version": 2, "roles": ["member"], "active": True}
    assert not_lowered.json()["version"] == 99
    assert await redis.get(key) == b"99"
    assert unknown.status_code == 404
    assert other_tenant.status_code == 404
