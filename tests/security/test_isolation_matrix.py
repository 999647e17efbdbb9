"""Tenancy and membership on every operation of the public API, generated from the gateway's
own OpenAPI document: each operation is called with the victim's real ids by another tenant's
owner and by a same-tenant non-member. Nothing is ever found (404) and no answer carries the
victim's data. An operation the document gains without a case here fails the test, so a new
route cannot ship untried."""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from security_world import World, call

from parley_kit.openapi import operations

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Case:
    """How an outsider calls one operation, and what each outsider may get back."""

    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    # Allowed statuses per attacker ("mallory": other tenant, "eve": same-tenant non-member).
    mallory: frozenset[int] = frozenset({404})
    eve: frozenset[int] = frozenset({404})


def case(
    body: Any = None,
    query: dict[str, str] | None = None,
    *,
    mallory: set[int] | None = None,
    eve: set[int] | None = None,
) -> Case:
    return Case(
        body,
        query or {},
        frozenset(mallory or {404}),
        frozenset(eve or {404}),
    )


def own_data(body: Any = None, query: dict[str, str] | None = None) -> Case:
    """An operation on the caller's own things: allowed, but it must show nothing of others."""
    return case(body, query, mallory={200, 201, 204}, eve={200, 201, 204})


ANONYMOUS = None  # an operation with no id to cross: a login, a signup, the keys
CONVERSATION = "/v1/conversations/{conversation_id}"
MESSAGE = f"{CONVERSATION}/messages/{{message_id}}"


def cases(world: World) -> dict[tuple[str, str], Case | None]:
    secret = world.markers[1]
    return {
        ("POST", "/v1/tenants"): ANONYMOUS,
        ("POST", "/v1/auth/signup"): ANONYMOUS,
        ("POST", "/v1/auth/login"): ANONYMOUS,
        ("POST", "/v1/auth/refresh"): ANONYMOUS,
        ("POST", "/v1/auth/logout"): ANONYMOUS,
        ("GET", "/.well-known/jwks.json"): ANONYMOUS,
        ("POST", "/api/auth/signup"): ANONYMOUS,
        ("POST", "/api/auth/login"): ANONYMOUS,
        ("GET", "/v1/auth/me"): own_data(),
        # Tenant-mates are visible to each other by design; another tenant's are not.
        ("GET", "/v1/users"): own_data(query={"q": "bob"}),
        ("PUT", "/v1/users/{user_id}/roles"): case({"roles": ["admin"]}, eve={403}),
        ("PATCH", "/v1/auth/me"): own_data({"display_name": "only mine"}),
        # A wrong current password: nobody's password changes, the outsider's own included.
        ("POST", "/v1/auth/password"): case(
            {"current_password": "not it", "new_password": "long enough 1"},
            mallory={403},
            eve={403},
        ),
        ("GET", "/v1/auth/sessions"): own_data(),
        ("DELETE", "/v1/auth/sessions/{session_id}"): case(),
        ("POST", "/v1/users/{user_id}/deactivate"): case(eve={403}),
        ("POST", "/v1/users/{user_id}/reactivate"): case(eve={403}),
        ("GET", "/v1/conversations"): own_data(),
        # A same-tenant user may start a group with bob; another tenant's cannot name him.
        ("POST", "/v1/conversations"): case(
            {"kind": "group", "title": "mine", "member_ids": [world.bob.user_id]},
            mallory={422},
            eve={201},
        ),
        ("GET", CONVERSATION): case(),
        ("PATCH", CONVERSATION): case({"title": "taken over"}),
        ("POST", f"{CONVERSATION}/members"): case({"user_ids": [world.eve.user_id]}),
        ("DELETE", f"{CONVERSATION}/members/{{user_id}}"): case(),
        ("POST", f"{CONVERSATION}/read"): case({"seq": 1}),
        ("POST", f"{CONVERSATION}/messages"): case({"content": "let me in"}),
        ("GET", f"{CONVERSATION}/messages"): case(),
        ("GET", MESSAGE): case(),
        ("PATCH", MESSAGE): case({"content": "defaced"}),
        ("DELETE", MESSAGE): case(),
        ("GET", f"{MESSAGE}/replies"): case(),
        ("PUT", f"{MESSAGE}/reactions/{{emoji}}"): case(),
        ("DELETE", f"{MESSAGE}/reactions/{{emoji}}"): case(),
        ("GET", f"{MESSAGE}/edits"): case(),
        ("PUT", f"{MESSAGE}/pin"): case(),
        ("DELETE", f"{MESSAGE}/pin"): case(),
        ("GET", f"{CONVERSATION}/pins"): case(),
        ("PUT", f"{CONVERSATION}/notifications"): case({"level": "none"}),
        # The caller's own feed: never anyone else's notifications.
        ("GET", "/v1/me/notifications"): own_data(),
        ("POST", "/v1/me/notifications/read"): own_data({"all": True}),
        ("GET", "/v1/search/messages"): own_data(
            query={
                "q": secret,
                "conversation_id": world.conversation_id,
                "sender_id": world.bob.user_id,
            }
        ),
        ("POST", "/api/conversations"): case(
            {"title": "mine", "participants": ["bob"]}, mallory={422}, eve={201}
        ),
        ("GET", "/api/conversations/{conversation_id}"): case(),
        ("POST", "/api/messages"): case(
            {"conversationId": world.conversation_id, "content": "let me in"}
        ),
        ("GET", "/api/conversations/{conversation_id}/messages"): case(),
        # The legacy search filters by membership: an outsider's page is empty, or not found.
        ("GET", "/api/conversations/{conversation_id}/messages/search"): case(
            query={"q": secret}, mallory={200, 404}, eve={200, 404}
        ),
    }


def path_values(world: World) -> dict[str, str]:
    return {
        "conversation_id": world.conversation_id,
        "message_id": world.message_id,
        "user_id": world.bob.user_id,
        "emoji": world.emoji,
        "session_id": world.session_id(world.bob),
    }


def target(template: str, values: dict[str, str], query: dict[str, str]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", quote(value, safe=""))
    assert "{" not in path, f"{template}: a path parameter without a value in path_values"
    return f"{path}?{urlencode(query)}" if query else path


async def test_outsiders_never_reach_the_victims_data_on_any_operation(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.gateway, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
        wrong, tried = await attack_every_operation(http, world, document)
    assert wrong == []
    assert tried >= 40
    await assert_untouched(world)


async def attack_every_operation(
    http: httpx.AsyncClient, world: World, document: dict[str, Any]
) -> tuple[list[str], int]:
    table = cases(world)
    documented = {(method.upper(), path) for path, method, _ in operations(document)}
    assert documented - set(table) == set(), "operations without an isolation case"
    assert set(table) - documented == set(), "cases of operations the document does not have"
    victims = {world.conversation_id, world.message_id, world.reply_id}
    other_tenant = victims | {world.ada.user_id, world.bob.user_id, world.eve.user_id}
    wrong: list[str] = []
    tried = 0
    for (method, template), how in sorted(table.items()):
        if how is None:
            continue
        where = target(template, path_values(world), how.query)
        for name, attacker, allowed, hidden in (
            ("mallory", world.mallory, how.mallory, other_tenant),
            ("eve", world.eve, how.eve, victims),
        ):
            response = await call(http, method, where, token=world.token(attacker), body=how.body)
            tried += 1
            leaked = world.leaks(response)
            if response.is_success:
                leaked += [value for value in hidden if value in response.text]
            if response.status_code not in allowed or leaked:
                wrong.append(f"{name} {method} {template}: {response.status_code} {leaked}")
    return wrong, tried


async def assert_untouched(world: World) -> None:
    """Whatever the outsiders tried, the victims' conversation is as they left it."""
    conversation = await world.ada.client.get_conversation(world.conversation_id)
    message = await world.bob.client.get_message(world.conversation_id, world.message_id)
    replies = await world.bob.client.replies(world.conversation_id, world.message_id)
    assert conversation.title == world.markers[0]
    assert {m.user_id for m in conversation.members} == {world.ada.user_id, world.bob.user_id}
    assert (message.content, message.deleted) == (world.markers[1], False)
    assert message.reactions == {"x": [world.ada.user_id]}
    assert [reply.id for reply in replies.items] == [world.reply_id]
