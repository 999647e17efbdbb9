"""The account lifecycle of API.md against real FerretDB, Redis and Kafka."""

import asyncio
import json

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from auth_factories import bearer, from_address, signup_body, tenant_body

from parley_auth.settings import AuthSettings
from parley_contracts.events import EventEnvelope
from parley_contracts.topics import USERS, EventType, prefixed

pytestmark = pytest.mark.integration


async def test_full_lifecycle_with_refresh_reuse_revoking_the_family(
    auth: httpx.AsyncClient,
) -> None:
    created = await auth.post("/v1/tenants", json=tenant_body("acme"))
    assert created.status_code == 201, created.text
    assert created.json()["user"]["roles"] == ["owner"]
    assert "password" not in json.dumps(created.json()["user"])

    signed_up = await auth.post("/v1/auth/signup", json=signup_body("acme", "bob"))
    assert signed_up.status_code == 201, signed_up.text
    assert signed_up.json()["user"]["roles"] == ["member"]

    login = await auth.post(
        "/v1/auth/login", json={"tenant": "acme", "login": "bob", "password": "member-pass-1"}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900

    me = await auth.get("/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "bob"

    first = await auth.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200
    newer = first.json()["refresh_token"]

    reuse = await auth.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.headers["content-type"] == "application/problem+json"

    after_reuse = await auth.post("/v1/auth/refresh", json={"refresh_token": newer})
    assert after_reuse.status_code == 401, "the whole family is revoked on reuse"

    again = await auth.post(
        "/v1/auth/login",
        json={"tenant": "acme", "login": "bob@example.com", "password": "member-pass-1"},
    )
    session = again.json()["refresh_token"]
    assert (await auth.post("/v1/auth/logout", json={"refresh_token": session})).status_code == 204
    assert (await auth.post("/v1/auth/refresh", json={"refresh_token": session})).status_code == 401


async def test_bad_credentials_get_the_same_answer_for_unknown_user_and_wrong_password(
    auth: httpx.AsyncClient,
) -> None:
    await auth.post("/v1/tenants", json=tenant_body("same"))
    unknown = await auth.post(
        "/v1/auth/login", json={"tenant": "same", "login": "ghost", "password": "whatever-1"}
    )
    wrong = await auth.post(
        "/v1/auth/login", json={"tenant": "same", "login": "owner", "password": "wrong-pass-1"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


async def test_duplicates_within_a_tenant_conflict(auth: httpx.AsyncClient) -> None:
    await auth.post("/v1/tenants", json=tenant_body("dups"))
    assert (await auth.post("/v1/auth/signup", json=signup_body("dups", "eve"))).status_code == 201
    same_name = await auth.post("/v1/auth/signup", json=signup_body("dups", "EVE"))
    assert same_name.status_code == 409
    body = signup_body("dups", "eve2") | {"email": "EVE@example.com"}
    assert (await auth.post("/v1/auth/signup", json=body)).status_code == 409
    taken_slug = await auth.post("/v1/tenants", json=tenant_body("dups"))
    assert taken_slug.status_code == 409


async def test_validation_errors_are_422_problems(auth: httpx.AsyncClient) -> None:
    response = await auth.post(
        "/v1/auth/signup",
        json={"tenant": "x", "username": "a", "email": "no", "password": "short"},
    )
    assert response.status_code == 422
    locs = {error["loc"] for error in response.json()["errors"]}
    assert {"body.username", "body.email", "body.password"} <= locs


async def test_operator_injection_in_login_is_rejected(auth: httpx.AsyncClient) -> None:
    response = await auth.post(
        "/v1/auth/login", json={"tenant": "acme", "login": {"$ne": ""}, "password": "x"}
    )
    assert response.status_code == 422


async def test_tenant_events_reach_kafka(
    auth: httpx.AsyncClient, auth_settings: AuthSettings
) -> None:
    created = (await auth.post("/v1/tenants", json=tenant_body("events"))).json()
    consumer = AIOKafkaConsumer(
        prefixed(auth_settings.topic_prefix, USERS),
        bootstrap_servers=auth_settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    seen: set[EventType] = set()
    try:
        async with asyncio.timeout(30):
            while seen != {EventType.TENANT_CREATED, EventType.USER_CREATED}:
                record = await consumer.getone()
                assert record.value is not None
                envelope = EventEnvelope.model_validate_json(record.value)
                assert envelope.tenant_id == created["tenant"]["id"]
                seen.add(envelope.type)
    finally:
        await consumer.stop()
    assert seen == {EventType.TENANT_CREATED, EventType.USER_CREATED}


async def test_parallel_signups_of_one_username_create_exactly_one_account(
    auth: httpx.AsyncClient, auth_settings: AuthSettings
) -> None:
    await auth.post("/v1/tenants", json=tenant_body("taken"))

    answers = await asyncio.gather(
        *(
            auth.post(
                "/v1/auth/signup",
                json=signup_body("taken", "zoe") | {"email": f"zoe{n}@example.com"},
                headers=from_address(f"192.0.2.{n}", auth_settings),
            )
            for n in range(16)
        )
    )

    assert sorted(a.status_code for a in answers) == [201] + [409] * 15
