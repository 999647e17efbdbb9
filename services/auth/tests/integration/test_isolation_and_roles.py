"""Tenant isolation and role rules, tried as an attacker would."""

import asyncio

import httpx
import pytest
from auth_factories import bearer, signup_body, tenant_body

pytestmark = pytest.mark.integration


async def login(auth: httpx.AsyncClient, tenant: str, name: str, password: str) -> str:
    response = await auth.post(
        "/v1/auth/login", json={"tenant": tenant, "login": name, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_tenants_are_isolated(auth: httpx.AsyncClient) -> None:
    a = (await auth.post("/v1/tenants", json=tenant_body("tenant-a"))).json()
    b = (await auth.post("/v1/tenants", json=tenant_body("tenant-b"))).json()
    await auth.post("/v1/auth/signup", json=signup_body("tenant-a", "sam", "sam-pass-aa"))
    await auth.post("/v1/auth/signup", json=signup_body("tenant-b", "sam", "sam-pass-bb"))

    cross = await auth.post(
        "/v1/auth/login", json={"tenant": "tenant-b", "login": "sam", "password": "sam-pass-aa"}
    )
    assert cross.status_code == 401

    token_a = await login(auth, "tenant-a", "sam", "sam-pass-aa")
    users = (await auth.get("/v1/users", headers=bearer(token_a))).json()["items"]
    assert {u["tenant_id"] for u in users} == {a["tenant"]["id"]}
    assert b["user"]["id"] not in {u["id"] for u in users}

    other_tenant_user = await auth.put(
        f"/v1/users/{b['user']['id']}/roles",
        json={"roles": ["member"]},
        headers=bearer(a["tokens"]["access_token"]),
    )
    assert other_tenant_user.status_code == 404


async def test_users_list_is_paginated_and_searchable(auth: httpx.AsyncClient) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("pages"))).json()
    for name in ("alice", "alfred", "bruno"):
        await auth.post("/v1/auth/signup", json=signup_body("pages", name))
    headers = bearer(owner["tokens"]["access_token"])

    first = (await auth.get("/v1/users", params={"limit": 2}, headers=headers)).json()
    rest = (
        await auth.get(
            "/v1/users", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    found = (await auth.get("/v1/users", params={"q": "al"}, headers=headers)).json()

    assert len(first["items"]) == 2
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    assert {u["username"] for u in found["items"]} == {"alice", "alfred"}
    too_many = await auth.get("/v1/users", params={"limit": 101}, headers=headers)
    assert too_many.status_code == 422


async def test_role_rules(auth: httpx.AsyncClient) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("roles"))).json()
    member = (await auth.post("/v1/auth/signup", json=signup_body("roles", "mia"))).json()
    owner_headers = bearer(owner["tokens"]["access_token"])
    member_headers = bearer(member["tokens"]["access_token"])
    owner_id, member_id = owner["user"]["id"], member["user"]["id"]

    denied = await auth.put(
        f"/v1/users/{owner_id}/roles", json={"roles": ["member"]}, headers=member_headers
    )
    assert denied.status_code == 403

    last_owner = await auth.put(
        f"/v1/users/{owner_id}/roles", json={"roles": ["admin"]}, headers=owner_headers
    )
    assert last_owner.status_code == 409

    promoted = await auth.put(
        f"/v1/users/{member_id}/roles", json={"roles": ["admin"]}, headers=owner_headers
    )
    assert promoted.status_code == 200
    assert promoted.json()["roles"] == ["admin"]

    admin_token = await login(auth, "roles", "mia", "member-pass-1")
    admin_grants_owner = await auth.put(
        f"/v1/users/{member_id}/roles", json={"roles": ["owner"]}, headers=bearer(admin_token)
    )
    assert admin_grants_owner.status_code == 403


async def test_invite_only_tenants_refuse_signup(auth: httpx.AsyncClient) -> None:
    await auth.post("/v1/tenants", json=tenant_body("closed", signup_policy="invite"))
    response = await auth.post("/v1/auth/signup", json=signup_body("closed", "zed"))
    assert response.status_code == 403


async def test_unauthenticated_calls_are_401(auth: httpx.AsyncClient) -> None:
    assert (await auth.get("/v1/auth/me")).status_code == 401
    assert (await auth.get("/v1/auth/me", headers=bearer("garbage"))).status_code == 401


async def test_internal_routes_need_the_internal_secret(auth: httpx.AsyncClient) -> None:
    body = {"tenant_id": "x", "user_ids": []}
    assert (await auth.post("/internal/v1/users:resolve", json=body)).status_code == 401
    wrong = {"X-Parley-Internal-Token": "guess"}
    assert (
        await auth.post("/internal/v1/users:resolve", json=body, headers=wrong)
    ).status_code == 401


async def test_two_owners_demoting_themselves_at_once_leave_exactly_one_owner(
    auth: httpx.AsyncClient,
) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("owners"))).json()
    second = (await auth.post("/v1/auth/signup", json=signup_body("owners", "olga"))).json()
    promoted = await auth.put(
        f"/v1/users/{second['user']['id']}/roles",
        json={"roles": ["owner"]},
        headers=bearer(owner["tokens"]["access_token"]),
    )
    assert promoted.status_code == 200
    olga_token = await login(auth, "owners", "olga", "member-pass-1")

    answers = await asyncio.gather(
        *(
            auth.put(
                f"/v1/users/{user_id}/roles", json={"roles": ["member"]}, headers=bearer(token)
            )
            for user_id, token in (
                (owner["user"]["id"], owner["tokens"]["access_token"]),
                (second["user"]["id"], olga_token),
            )
        )
    )

    assert sorted(a.status_code for a in answers) == [200, 409]
    users = (await auth.get("/v1/users", headers=bearer(olga_token))).json()["items"]
    assert sum("owner" in u["roles"] for u in users) == 1


async def test_a_demoted_admin_cannot_change_roles_with_an_older_token(
    auth: httpx.AsyncClient,
) -> None:
    owner = (await auth.post("/v1/tenants", json=tenant_body("demoted"))).json()
    mia = (await auth.post("/v1/auth/signup", json=signup_body("demoted", "mia"))).json()
    owner_headers = bearer(owner["tokens"]["access_token"])
    mia_id = mia["user"]["id"]
    await auth.put(f"/v1/users/{mia_id}/roles", json={"roles": ["admin"]}, headers=owner_headers)
    admin_token = await login(auth, "demoted", "mia", "member-pass-1")
    await auth.put(f"/v1/users/{mia_id}/roles", json={"roles": ["member"]}, headers=owner_headers)

    repromote = await auth.put(
        f"/v1/users/{mia_id}/roles", json={"roles": ["admin"]}, headers=bearer(admin_token)
    )

    assert repromote.status_code == 403, "the stored roles decide, not the token's"
