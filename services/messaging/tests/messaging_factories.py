"""Plain factories for messaging tests: tenants with users, and their bearer headers."""

import uuid
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Person:
    id: str
    tenant_id: str
    headers: dict[str, str]


async def make_tenant(auth: httpx.AsyncClient, *usernames: str) -> list[Person]:
    """A new tenant; its owner first, then one member per username."""
    slug = f"t-{uuid.uuid4().hex[:10]}"
    created = await auth.post(
        "/v1/tenants",
        json={
            "name": slug,
            "slug": slug,
            "owner": {
                "username": "owner",
                "email": "owner@example.com",
                "password": "owner-pass-1",
            },
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    people = [
        Person(body["user"]["id"], body["tenant"]["id"], bearer(body["tokens"]["access_token"]))
    ]
    for name in usernames:
        signed = await auth.post(
            "/v1/auth/signup",
            json={
                "tenant": slug,
                "username": name,
                "email": f"{name}@example.com",
                "password": "member-pass-1",
            },
        )
        assert signed.status_code == 201, signed.text
        data = signed.json()
        people.append(
            Person(
                data["user"]["id"],
                data["user"]["tenant_id"],
                bearer(data["tokens"]["access_token"]),
            )
        )
    return people


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_group(
    messaging: httpx.AsyncClient, creator: Person, *members: Person, title: str = "team"
) -> str:
    response = await messaging.post(
        "/v1/conversations",
        json={"kind": "group", "title": title, "member_ids": [m.id for m in members]},
        headers=creator.headers,
    )
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def send(
    messaging: httpx.AsyncClient,
    person: Person,
    conversation_id: str,
    content: str,
    **extra: object,
) -> httpx.Response:
    return await messaging.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"content": content, **extra},
        headers=person.headers,
    )
