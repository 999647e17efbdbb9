"""The HTTP edge as an attacker and an unlucky client meet it: tokens, forged identities,
limits, oversized bodies, services that are down, and the documents it serves."""

import asyncio

import httpx
import pytest
from gateway_factories import new_group, new_tenant, new_user, send
from gateway_suite import Platform, platform

from parley_contracts.claims import AccessClaims
from parley_kit.identity import ForwardedIdentity
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


async def test_private_routes_need_a_valid_token(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        missing = await http.get("/v1/conversations")
        garbage = await http.get("/v1/conversations", headers={"Authorization": "Bearer x.y.z"})
        me = await http.get("/v1/auth/me")
    for response in (missing, garbage, me):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["status"] == 401


async def test_a_forged_identity_header_is_stripped_at_the_edge(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        victim = await new_tenant(http)
        attacker = await new_tenant(http)
        conversation = await new_group(http, victim)
        # Even a correctly signed header (as if the secret leaked) is dropped by the gateway:
        # the attacker's own token decides who they are.
        forged = ForwardedIdentity("gateway-test-secret")
        claims = AccessClaims(
            sub=victim.user_id,
            tid=victim.tenant_id,
            username="owner",
            iat=0,
            exp=4_000_000_000,
            jti="x",
            iss="parley-auth",
            aud="parley",
        )
        response = await http.get(
            f"/v1/conversations/{conversation}",
            headers=attacker.headers
            | {"X-Parley-Identity": forged.sign(claims), "X-Parley-Internal-Token": "guess"},
        )
        anonymous = await http.get(
            f"/v1/conversations/{conversation}",
            headers={"X-Parley-Identity": forged.sign(claims)},
        )
    assert response.status_code == 404
    assert anonymous.status_code == 401


async def test_internal_routes_and_dot_segments_are_not_reachable(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        internal = await http.get(
            f"/internal/v1/tenants/{owner.tenant_id}/users/{owner.user_id}/conversations",
            headers=owner.headers,
        )
        traversal = await http.get(
            "/v1/conversations/%2E%2E/%2E%2E/internal/v1/messages:export", headers=owner.headers
        )
        unknown = await http.get("/v1/nothing-here", headers=owner.headers)
    assert internal.status_code == 404
    assert traversal.status_code == 404  # no public route has this shape
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith(PROBLEM)


async def test_request_id_is_echoed_and_bodies_are_limited(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        conversation = await new_group(http, owner)
        echoed = await http.get(
            "/v1/conversations", headers=owner.headers | {"X-Request-ID": "trace-me-123"}
        )
        huge = await http.post(
            f"/v1/conversations/{conversation}/messages",
            content=b'{"content": "' + b"x" * 70_000 + b'"}',
            headers=owner.headers | {"content-type": "application/json"},
        )
        operator = await http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hi", "metadata": {"$where": "1"}},
            headers=owner.headers,
        )
    assert echoed.headers["x-request-id"] == "trace-me-123"
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith(PROBLEM)
    assert operator.status_code == 422
    assert operator.json()["errors"]


async def test_rate_limit_answers_429_with_retry_after(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation, user_rate_per_second=0.5, user_burst=3) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        statuses = [
            (await http.get("/v1/conversations", headers=owner.headers)).status_code
            for _ in range(5)
        ]
        limited = await http.get("/v1/conversations", headers=owner.headers)
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["status"] == 429


async def test_a_service_that_is_down_is_a_503_problem(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    async with (
        platform(stack_urls, isolation, search_url="http://127.0.0.1:1") as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as http,
    ):
        owner = await new_tenant(http)
        response = await http.get("/v1/search/messages", params={"q": "x"}, headers=owner.headers)
        still_fine = await http.get("/v1/conversations", headers=owner.headers)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "search" in response.json()["detail"]
    assert still_fine.status_code == 200


async def test_openapi_covers_every_public_route(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        document = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")
    paths = set(document["paths"])
    expected = {
        "/v1/tenants",
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/auth/me",
        "/v1/users",
        "/v1/users/{user_id}/roles",
        "/.well-known/jwks.json",
        "/v1/conversations",
        "/v1/conversations/{conversation_id}",
        "/v1/conversations/{conversation_id}/members",
        "/v1/conversations/{conversation_id}/read",
        "/v1/conversations/{conversation_id}/messages",
        "/v1/conversations/{conversation_id}/messages/{message_id}",
        "/v1/search/messages",
        "/api/auth/signup",
        "/api/auth/login",
        "/api/conversations",
        "/api/messages",
        "/api/conversations/{conversation_id}/messages",
        "/api/conversations/{conversation_id}/messages/search",
    }
    assert expected <= paths
    assert not any(path.startswith("/internal") for path in paths)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_seed_routes_map_onto_v1(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        legacy = "7" + suite.gateway.redis_prefix.strip(":")[-6:]
        signed = await http.post(
            "/api/auth/signup",
            json={
                "username": "sam",
                "email": "sam@example.com",
                "password": "correct horse battery",
                "tenantId": legacy,
                "roles": ["owner"],
            },
        )
        await http.post(
            "/api/auth/signup",
            json={
                "username": "kim",
                "email": "kim@example.com",
                "password": "correct horse battery",
                "tenantId": legacy,
            },
        )
        login = await http.post(
            "/api/auth/login",
            json={"email": "sam@example.com", "password": "correct horse battery"},
            headers={"X-Tenant": f"t{legacy}"},
        )
        sam = {"Authorization": f"Bearer {login.json()['token']}"}
        me = (await http.get("/v1/auth/me", headers=sam)).json()
        created = await http.post(
            "/api/conversations", json={"title": "legacy", "participants": ["kim"]}, headers=sam
        )
        conversation = created.json()["_id"]
        unknown = await http.post(
            "/api/conversations", json={"title": "x", "participants": ["nobody"]}, headers=sam
        )
        for index in range(5):
            sent = await http.post(
                "/api/messages",
                json={"conversationId": conversation, "content": f"legacy {index}"},
                headers=sam,
            )
            assert sent.status_code == 201, sent.text
        page = await http.get(
            f"/api/conversations/{conversation}/messages",
            params={"pageNo": 2, "pageSize": 2},
            headers=sam,
        )
        ascending = await http.get(
            f"/api/conversations/{conversation}/messages",
            params={"pageNo": 1, "pageSize": 2, "sort": "asc"},
            headers=sam,
        )
        fetched = await http.get(f"/api/conversations/{conversation}", headers=sam)
    assert signed.status_code == 201
    assert signed.json()["message"]
    assert signed.json()["token"]
    assert login.status_code == 200
    assert me["roles"] == ["member"]  # `roles` in the signup body is ignored
    assert created.status_code == 201
    assert len(created.json()["participants"]) == 2
    assert unknown.status_code == 422
    body = page.json()
    assert (body["totalElements"], body["pageNo"], body["pageSize"], body["totalPages"]) == (
        5,
        2,
        2,
        3,
    )
    assert [m["content"] for m in body["data"]] == ["legacy 2", "legacy 1"]
    assert [m["content"] for m in ascending.json()["data"]] == ["legacy 0", "legacy 1"]
    assert fetched.json()["title"] == "legacy"


async def test_a_message_is_found_by_search_through_the_edge(suite: Platform) -> None:
    async with httpx.AsyncClient(base_url=suite.url, timeout=10) as http:
        owner = await new_tenant(http)
        ann = await new_user(http, owner, "ann")
        conversation = await new_group(http, owner, ann)
        await send(http, owner, conversation, "the deployment checklist is ready")
        hits: list[dict[str, object]] = []
        for _ in range(100):
            response = await http.get(
                "/v1/search/messages", params={"q": "deploy"}, headers=ann.headers
            )
            hits = response.json()["items"]
            if hits:
                break
            await asyncio.sleep(0.1)
    assert len(hits) == 1
