"""Plain factories for gateway tests: tenants, users, conversations and sockets via the edge."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio


@dataclass
class Account:
    tenant_slug: str
    tenant_id: str
    user_id: str
    username: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def new_tenant(http: httpx.AsyncClient, owner: str = "owner") -> Account:
    slug = f"g{uuid.uuid4().hex[:10]}"
    response = await http.post(
        "/v1/tenants",
        json={
            "name": f"Tenant {slug}",
            "slug": slug,
            "owner": {
                "username": owner,
                "email": f"{owner}@{slug}.example.com",
                "password": "correct horse battery",
            },
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        slug,
        body["tenant"]["id"],
        body["user"]["id"],
        owner,
        body["tokens"]["access_token"],
        body["tokens"]["refresh_token"],
    )


async def new_user(http: httpx.AsyncClient, tenant: Account, username: str) -> Account:
    response = await http.post(
        "/v1/auth/signup",
        json={
            "tenant": tenant.tenant_slug,
            "username": username,
            "email": f"{username}@{tenant.tenant_slug}.example.com",
            "password": "correct horse battery",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        tenant.tenant_slug,
        tenant.tenant_id,
        body["user"]["id"],
        username,
        body["tokens"]["access_token"],
        body["tokens"]["refresh_token"],
    )


async def new_group(http: httpx.AsyncClient, creator: Account, *members: Account) -> str:
    response = await http.post(
        "/v1/conversations",
        json={"kind": "group", "title": "team", "member_ids": [m.user_id for m in members]},
        headers=creator.headers,
    )
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def send(
    http: httpx.AsyncClient, sender: Account, conversation_id: str, content: str
) -> dict[str, Any]:
    response = await http.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"content": content},
        headers=sender.headers,
    )
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    return message


@dataclass
class Listener:
    """A real Socket.IO client that records every event it receives."""

    client: socketio.AsyncClient
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.received if name == kind]

    async def wait_for(
        self, predicate: Callable[[str, dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for name, payload in self.received:
                    if predicate(name, payload):
                        return payload
                await asyncio.sleep(0.05)


async def listen(url: str, account: Account) -> Listener:
    client = socketio.AsyncClient(reconnection=False)
    listener = Listener(client)

    async def record(event: str, payload: Any) -> None:
        listener.received.append((event, payload))

    client.on("*", record)
    await client.connect(
        url, auth={"token": account.access_token}, transports=["websocket"], wait_timeout=10
    )
    return listener
