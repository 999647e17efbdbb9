"""What search tests need: a stand-in for messaging's internal routes (a service double, not an
engine mock), event producers, and identities signed the way the gateway signs them."""

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from parley_contracts.claims import AccessClaims, Role
from parley_contracts.events import new_event
from parley_contracts.resources import Message
from parley_contracts.topics import MESSAGES, EventType, prefixed
from parley_kit.identity import IDENTITY_HEADER, ForwardedIdentity
from parley_kit.testing.stack import Isolation, StackUrls
from parley_search.settings import SearchSettings

SECRET = "search-test-secret"


@dataclass
class MessagingDouble:
    """Serves messaging's `/internal/v1/.../conversations` (with titles on request) and
    `/internal/v1/messages:export`, and auth's `/internal/v1/users:by-username`, from memory."""

    members: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    titles: dict[tuple[str, str], str] = field(default_factory=dict)  # (tenant, conv) -> title
    users: dict[tuple[str, str], str] = field(default_factory=dict)  # (tenant, username) -> id

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/internal/v1/tenants/{tenant_id}/users/{user_id}/conversations")
        async def conversations(tenant_id: str, user_id: str, titles: bool = False) -> Any:
            ids = self.members.get((tenant_id, user_id), [])
            if not titles:
                return {"conversation_ids": ids}
            return {
                "conversation_ids": ids,
                "titles": {i: self.titles.get((tenant_id, i)) for i in ids},
            }

        @app.post("/internal/v1/users:by-username")
        async def by_username(body: dict[str, Any]) -> dict[str, Any]:
            tenant = body["tenant_id"]
            found = [
                {
                    "id": self.users[(tenant, name)],
                    "tenant_id": tenant,
                    "username": name,
                    "email": f"{name}@example.com",
                    "roles": ["member"],
                    "created_at": "2026-01-01T00:00:00Z",
                }
                for name in body["usernames"]
                if (tenant, name) in self.users
            ]
            return {"users": found}

        @app.get("/internal/v1/messages:export")
        async def export(cursor: str | None = None, limit: int = 500) -> dict[str, Any]:
            ordered = sorted(self.messages.values(), key=lambda m: m.id)
            start = int(cursor) if cursor else 0
            page = ordered[start : start + limit]
            more = start + limit < len(ordered)
            return {
                "items": [m.model_dump(mode="json") for m in page],
                "next_cursor": str(start + limit) if more else None,
            }

        return app


def search_settings(
    urls: StackUrls, names: Isolation, messaging_url: str, **overrides: object
) -> SearchSettings:
    values: dict[str, object] = {
        "elasticsearch_url": urls.elasticsearch_url,
        "index_prefix": names.index_prefix,
        "kafka_bootstrap": urls.kafka_bootstrap,
        "topic_prefix": names.topic_prefix,
        "kafka_partitions": 1,
        "consumer_group": f"{names.name}-search",
        "messaging_url": messaging_url,
        "auth_url": messaging_url,
        "internal_secret": SECRET,
        "membership_cache_seconds": 0,
        "flush_interval_ms": 50,
        "log_json": False,
    }
    return SearchSettings.model_validate(values | overrides)


def identity(tenant_id: str, user_id: str) -> dict[str, str]:
    now = int(time.time())
    claims = AccessClaims(
        sub=user_id,
        tid=tenant_id,
        roles=(Role.MEMBER,),
        username=user_id,
        iat=now,
        exp=now + 900,
        jti=uuid.uuid4().hex,
        iss="parley-auth",
        aud="parley",
    )
    return {IDENTITY_HEADER: ForwardedIdentity(SECRET).sign(claims)}


_seq = iter(range(1, 10**9))


def make_message(tenant_id: str, conversation_id: str, content: str, **overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "id": uuid.uuid4().hex[:24],
        "tenant_id": tenant_id,
        "conversation_id": conversation_id,
        "seq": next(_seq),
        "sender_id": "sender-1",
        "content": content,
        "created_at": datetime.now(UTC),
    }
    return Message.model_validate(fields | overrides)


async def publish(
    producer: AIOKafkaProducer, topic: str, event_type: EventType, message: Message
) -> None:
    envelope = new_event(
        event_type, tenant_id=message.tenant_id, key=message.conversation_id, data=message
    )
    await producer.send_and_wait(
        topic, envelope.model_dump_json().encode(), key=message.conversation_id.encode()
    )


@dataclass
class SearchRig:
    client: httpx.AsyncClient
    settings: SearchSettings
    messaging: MessagingDouble
    messaging_url: str
    producer: AIOKafkaProducer

    @property
    def topic(self) -> str:
        return prefixed(self.settings.topic_prefix, MESSAGES)


async def search_page(rig: SearchRig, tenant_id: str, user_id: str, **params: Any) -> Any:
    """One search as `user_id`; a 200 is required."""
    response = await rig.client.get(
        "/v1/search/messages", params=params, headers=identity(tenant_id, user_id)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def index_all(rig: SearchRig, messages: list[Message], marker_tenant: str) -> None:
    """Publish `message.created` for each, then wait until the last one is searchable (one
    partition: everything before it is indexed too)."""
    for message in messages:
        await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, message)
    word = f"marker{uuid.uuid4().hex}"
    marker = make_message(marker_tenant, "marker-conv", word)
    await publish(rig.producer, rig.topic, EventType.MESSAGE_CREATED, marker)
    rig.messaging.members[(marker_tenant, "marker-user")] = ["marker-conv"]
    for _ in range(200):
        page = await search_page(rig, marker_tenant, "marker-user", q=word)
        if page["total"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the messages were not indexed in time")
