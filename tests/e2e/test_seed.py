"""Clients of the seed system keep working through `/api`, under every v1 rule."""

import asyncio
import uuid

import pytest

from parley_client import ParleyClient

pytestmark = pytest.mark.e2e


async def test_seed_client_signs_up_chats_pages_and_searches(gateway: str) -> None:
    legacy = str(uuid.uuid4().int % 10**9)
    http = ParleyClient(gateway)
    try:
        for name in ("sam", "kim"):
            signed = await http.raw(
                "POST",
                "/api/auth/signup",
                json={
                    "username": name,
                    "email": f"{name}@example.com",
                    "password": "correct horse battery",
                    "tenantId": legacy,
                },
                authenticated=False,
            )
            assert signed.status_code == 201, signed.text
        login = await http.raw(
            "POST",
            "/api/auth/login",
            json={"email": "sam@example.com", "password": "correct horse battery"},
            headers={"X-Tenant": f"t{legacy}"},
            authenticated=False,
        )
        http.access_token = login.json()["token"]
        conversation = (
            await http.raw(
                "POST", "/api/conversations", json={"title": "old", "participants": ["kim"]}
            )
        ).json()
        for index in range(3):
            await http.raw(
                "POST",
                "/api/messages",
                json={"conversationId": conversation["_id"], "content": f"legacy walrus {index}"},
            )
        page = (
            await http.raw(
                "GET",
                f"/api/conversations/{conversation['_id']}/messages",
                params={"pageNo": 1, "pageSize": 2},
            )
        ).json()
        found: dict[str, object] = {}
        for _ in range(60):
            found = (
                await http.raw(
                    "GET",
                    f"/api/conversations/{conversation['_id']}/messages/search",
                    params={"q": "walrus", "pageSize": 2},
                )
            ).json()
            if found.get("totalElements") == 3:
                break
            await asyncio.sleep(0.1)
        wrong_tenant = await http.raw(
            "POST",
            "/api/auth/login",
            json={"email": "sam@example.com", "password": "correct horse battery"},
            headers={"X-Tenant": "t-nonexistent"},
            authenticated=False,
        )
    finally:
        await http.aclose()
    assert login.status_code == 200
    assert page["totalElements"] == 3
    assert page["totalPages"] == 2
    assert [m["content"] for m in page["data"]] == ["legacy walrus 2", "legacy walrus 1"]
    assert found["totalElements"] == 3
    assert found["totalPages"] == 2
    assert wrong_tenant.status_code == 401
