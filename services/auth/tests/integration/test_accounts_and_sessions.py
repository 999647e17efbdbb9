"""Own account and sessions (profile, password, session list and revoke) and deactivation, on
the real engines: what each call changes, whom it refuses, and what it leaves working."""

import asyncio
from typing import Any

import httpx
import jwt
import pytest
from auth_factories import bearer, login_body, running_auth, signup_body, tenant_body
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from parley_auth.authz import authz_key
from parley_auth.settings import AuthSettings
from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.testing.stack import StackUrls

pytestmark = pytest.mark.integration

MEMBER_PASSWORD = "member-pass-1"


def sid(tokens: dict[str, Any]) -> str:
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return str(claims["sid"])


async def tenant_with_member(
    auth: httpx.AsyncClient, slug: str, member: str = "mia"
) -> tuple[dict[str, Any], dict[str, Any]]:
    owner = (await auth.post("/v1/tenants", json=tenant_body(slug))).json()
    signed = (await auth.post("/v1/auth/signup", json=signup_body(slug, member))).json()
    return owner, signed


async def login(
    auth: httpx.AsyncClient, slug: str, name: str, password: str = MEMBER_PASSWORD, agent: str = ""
) -> httpx.Response:
    headers = {"User-Agent": agent} if agent else {}
    return await auth.post("/v1/auth/login", json=login_body(slug, name, password), headers=headers)


async def refresh(auth: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await auth.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


async def test_a_profile_change_is_stored_and_a_taken_email_is_a_conflict(
    auth: httpx.AsyncClient,
) -> None:
    _, member = await tenant_with_member(auth, "profile")
    headers = bearer(member["tokens"]["access_token"])

    renamed = await auth.patch(
        "/v1/auth/me",
        json={"display_name": "Mia M", "email": "Mia.New@Example.com"},
        headers=headers,
    )
    taken = await auth.patch("/v1/auth/me", json={"email": "OWNER@example.com"}, headers=headers)
    cleared = await auth.patch("/v1/auth/me", json={"display_name": None}, headers=headers)
    me = await auth.get("/v1/auth/me", headers=headers)
    by_new_email = await login(auth, "profile", "mia.new@example.com")

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "Mia M"
    assert renamed.json()["email"] == "mia.new@example.com"
    assert renamed.json()["active"] is True
    assert taken.status_code == 409
    assert cleared.json()["display_name"] is None
    assert me.json()["email"] == "mia.new@example.com", "the refused change left the email"
    assert by_new_email.status_code == 200


async def test_a_password_change_ends_every_other_session_and_keeps_the_callers(
    auth: httpx.AsyncClient,
) -> None:
    _, member = await tenant_with_member(auth, "password")
    other = (await login(auth, "password", "mia")).json()
    current = member["tokens"]

    wrong = await auth.post(
        "/v1/auth/password",
        json={"current_password": "not-it-at-all", "new_password": "fresh-pass-2"},
        headers=bearer(current["access_token"]),
    )
    changed = await auth.post(
        "/v1/auth/password",
        json={"current_password": MEMBER_PASSWORD, "new_password": "fresh-pass-2"},
        headers=bearer(current["access_token"]),
    )

    assert wrong.status_code == 403
    assert changed.status_code == 204, changed.text
    assert (await refresh(auth, other)).status_code == 401, "the other session ended"
    assert (await refresh(auth, current)).status_code == 200, "the caller's session goes on"
    assert (await login(auth, "password", "mia")).status_code == 401
    assert (await login(auth, "password", "mia", "fresh-pass-2")).status_code == 200


async def test_sessions_are_listed_with_the_current_one_and_ended_one_by_one(
    auth: httpx.AsyncClient,
) -> None:
    owner, member = await tenant_with_member(auth, "sessions")
    phone = (await login(auth, "sessions", "mia", agent="phone/1.0")).json()
    laptop = (await login(auth, "sessions", "mia", agent="laptop/2.0")).json()
    headers = bearer(laptop["access_token"])

    listed = (await auth.get("/v1/auth/sessions", headers=headers)).json()["items"]
    ended = await auth.delete(f"/v1/auth/sessions/{sid(phone)}", headers=headers)
    again = await auth.delete(f"/v1/auth/sessions/{sid(phone)}", headers=headers)
    owners = await auth.delete(f"/v1/auth/sessions/{sid(owner['tokens'])}", headers=headers)
    after = (await auth.get("/v1/auth/sessions", headers=headers)).json()["items"]

    assert [s["user_agent"] for s in listed][:2] == ["laptop/2.0", "phone/1.0"]
    assert len(listed) == 3
    assert [s["current"] for s in listed] == [True, False, False]
    assert listed[0]["id"] == sid(laptop)
    assert all(s["ip"] for s in listed)
    assert all(s["last_used_at"] for s in listed)
    assert ended.status_code == 204
    assert again.status_code == 404
    assert owners.status_code == 404, "another user's session is not the caller's to end"
    assert (await refresh(auth, phone)).status_code == 401
    assert (await refresh(auth, owner["tokens"])).status_code == 200
    assert {s["id"] for s in after} == {sid(laptop), sid(member["tokens"])}


async def test_a_refresh_is_noted_on_its_session(auth: httpx.AsyncClient) -> None:
    _, member = await tenant_with_member(auth, "touch")
    before = (
        await auth.get("/v1/auth/sessions", headers=bearer(member["tokens"]["access_token"]))
    ).json()["items"][0]

    refreshed = await auth.post(
        "/v1/auth/refresh",
        json={"refresh_token": member["tokens"]["refresh_token"]},
        headers={"User-Agent": "renewed/3"},
    )
    after = (
        await auth.get("/v1/auth/sessions", headers=bearer(refreshed.json()["access_token"]))
    ).json()["items"]

    assert len(after) == 1
    assert after[0]["id"] == before["id"] == sid(refreshed.json())
    assert after[0]["user_agent"] == "renewed/3"
    assert after[0]["last_used_at"] >= before["last_used_at"]
    assert after[0]["current"] is True


async def test_deactivation_refuses_sign_in_ends_sessions_and_outdates_tokens_until_reactivated(
    auth: httpx.AsyncClient, auth_settings: AuthSettings, stack_urls: StackUrls
) -> None:
    owner, member = await tenant_with_member(auth, "leaver")
    tenant, mia = owner["tenant"]["id"], member["user"]["id"]
    owner_headers = bearer(owner["tokens"]["access_token"])
    second = (await login(auth, "leaver", "mia")).json()
    av = jwt.decode(member["tokens"]["access_token"], options={"verify_signature": False})["av"]

    deactivated = await auth.post(f"/v1/users/{mia}/deactivate", headers=owner_headers)
    repeated = await auth.post(f"/v1/users/{mia}/deactivate", headers=owner_headers)
    refused_login = await login(auth, "leaver", "mia")
    refused_refreshes = [await refresh(auth, t) for t in (member["tokens"], second)]
    listed = await auth.get("/v1/users?q=mia", headers=owner_headers)
    internal = await auth.post(
        "/internal/v1/users:authz",
        json={"tenant_id": tenant, "user_id": mia},
        headers={INTERNAL_TOKEN_HEADER: auth_settings.internal_secret.get_secret_value()},
    )
    redis: Redis = Redis.from_url(stack_urls.redis_url)
    try:
        version = int(await redis.get(authz_key(auth_settings.redis_prefix, tenant, mia)))
    finally:
        await redis.aclose()

    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    assert repeated.status_code == 200
    assert refused_login.status_code == 401
    assert [r.status_code for r in refused_refreshes] == [401, 401]
    assert listed.json()["items"][0]["active"] is False
    assert internal.json()["active"] is False
    assert version > av, "every token issued before is outdated"

    reactivated = await auth.post(f"/v1/users/{mia}/reactivate", headers=owner_headers)
    back = await login(auth, "leaver", "mia")

    assert reactivated.status_code == 200
    assert reactivated.json()["active"] is True
    assert back.status_code == 200
    new_av = jwt.decode(back.json()["access_token"], options={"verify_signature": False})["av"]
    assert new_av == version
    assert (await refresh(auth, second)).status_code == 401, "old sessions stay ended"


async def test_only_owners_and_admins_deactivate_and_not_themselves_nor_an_owner_as_admin(
    auth: httpx.AsyncClient,
) -> None:
    owner, member = await tenant_with_member(auth, "guards")
    admin = (await auth.post("/v1/auth/signup", json=signup_body("guards", "ada"))).json()
    owner_id, mia, ada = owner["user"]["id"], member["user"]["id"], admin["user"]["id"]
    owner_headers = bearer(owner["tokens"]["access_token"])
    await auth.put(f"/v1/users/{ada}/roles", json={"roles": ["admin"]}, headers=owner_headers)
    # The admin's token predates the role (auth reads roles from the store, not the token).
    ada_headers = bearer(admin["tokens"]["access_token"])
    other = (await auth.post("/v1/tenants", json=tenant_body("guards-other"))).json()

    by_member = await auth.post(
        f"/v1/users/{ada}/deactivate", headers=bearer(member["tokens"]["access_token"])
    )
    by_self = await auth.post(f"/v1/users/{owner_id}/deactivate", headers=owner_headers)
    owner_by_admin = await auth.post(f"/v1/users/{owner_id}/deactivate", headers=ada_headers)
    cross_tenant = await auth.post(
        f"/v1/users/{other['user']['id']}/deactivate", headers=owner_headers
    )
    member_by_admin = await auth.post(f"/v1/users/{mia}/deactivate", headers=ada_headers)

    assert by_member.status_code == 403
    assert by_self.status_code == 403
    assert owner_by_admin.status_code == 403
    assert cross_tenant.status_code == 404
    assert member_by_admin.status_code == 200
    assert (await login(auth, "guards-other", "owner", "owner-pass-1")).status_code == 200


async def test_a_login_racing_a_deactivation_leaves_no_live_session(
    auth: httpx.AsyncClient,
) -> None:
    owner, member = await tenant_with_member(auth, "race")
    mia = member["user"]["id"]
    owner_headers = bearer(owner["tokens"]["access_token"])

    results = await asyncio.gather(
        *(login(auth, "race", "mia") for _ in range(4)),
        auth.post(f"/v1/users/{mia}/deactivate", headers=owner_headers),
        *(login(auth, "race", "mia") for _ in range(4)),
    )

    assert results[4].status_code == 200
    issued = [r.json() for r in results if r.status_code == 200 and "refresh_token" in r.json()]
    for tokens in issued:
        assert (await refresh(auth, tokens)).status_code == 401


async def test_a_login_beyond_the_sessions_per_user_ends_the_oldest(
    auth_settings: AuthSettings,
) -> None:
    settings = auth_settings.model_copy(update={"sessions_per_user": 2})
    async with running_auth(settings) as auth:
        _, member = await tenant_with_member(auth, "capped")
        second = (await login(auth, "capped", "mia")).json()
        third = (await login(auth, "capped", "mia")).json()
        listed = await auth.get("/v1/auth/sessions", headers=bearer(third["access_token"]))

        assert (await refresh(auth, member["tokens"])).status_code == 401, "the oldest ended"
        assert {s["id"] for s in listed.json()["items"]} == {sid(second), sid(third)}
        assert (await refresh(auth, second)).status_code == 200


async def test_a_password_change_ends_sessions_the_index_does_not_list(
    auth: httpx.AsyncClient, auth_settings: AuthSettings, stack_urls: StackUrls
) -> None:
    """Sessions begun before sessions were indexed are refused at their next refresh."""
    owner, member = await tenant_with_member(auth, "legacy")
    tenant, mia = owner["tenant"]["id"], member["user"]["id"]
    older = (await login(auth, "legacy", "mia")).json()
    store: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_urls.mongo_url)
    try:
        # The index lists only the caller's session, as if the older one predated indexing.
        callers = member["tokens"]["refresh_token"].split(".")[1]
        index = store[auth_settings.mongo_db]["session_index"]
        forgotten = await index.update_one(
            {"_id": f"{tenant}:{mia}"}, {"$set": {"session_ids": [callers]}}
        )
    finally:
        await store.close()

    changed = await auth.post(
        "/v1/auth/password",
        json={"current_password": MEMBER_PASSWORD, "new_password": "fresh-pass-3"},
        headers=bearer(member["tokens"]["access_token"]),
    )

    assert forgotten.modified_count == 1
    assert changed.status_code == 204
    assert (await refresh(auth, older)).status_code == 401
    assert (await refresh(auth, member["tokens"])).status_code == 200, "the caller's is kept"
