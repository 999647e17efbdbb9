"""The people and data the security tests attack, built through the gateway like real users.

A victim tenant (owner `ada`, members `bob` and `eve`) has a private group of ada and bob with
a message, a reply and a reaction; `eve` is a same-tenant non-member, `mallory` the owner of
another tenant (an owner: tenant-admin rights of her own cannot carry over). Secret markers in
the title and texts show whether an answer leaked anything.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
from e2e_factories import Person, member_of, tenant_with_owner

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class World:
    gateway: str
    ada: Person
    bob: Person
    eve: Person
    mallory: Person
    conversation_id: str
    message_id: str
    reply_id: str
    emoji: str
    markers: tuple[str, ...]

    def token(self, person: Person) -> str:
        assert person.client.access_token is not None
        return person.client.access_token

    def session_id(self, person: Person) -> str:
        """The session the person's current access token was issued in (claim `sid`)."""
        claims = jwt.decode(self.token(person), options={"verify_signature": False})
        return str(claims["sid"])

    def leaks(self, response: httpx.Response) -> list[str]:
        """The secret markers an answer contains (none, for an outsider)."""
        return [marker for marker in self.markers if marker in response.text]


async def build_world(gateway: str) -> World:
    ada = await tenant_with_owner(gateway, "ada")
    bob = await member_of(gateway, ada, "bob")
    eve = await member_of(gateway, ada, "eve")
    mallory = await tenant_with_owner(gateway, "mallory")
    secret = uuid.uuid4().hex
    title, content, reply = f"title-{secret}", f"content-{secret}", f"reply-{secret}"
    group = await ada.client.create_conversation("group", [bob.user_id], title=title)
    message = await bob.client.send_message(group.id, content)
    # Mentions of the outsiders must notify neither of them (their feeds are attacked too).
    answer = await ada.client.send_message(
        group.id, f"{reply} @bob @eve @mallory", parent_id=message.id
    )
    await ada.client.react(group.id, message.id, "x")
    return World(
        gateway,
        ada,
        bob,
        eve,
        mallory,
        group.id,
        message.id,
        answer.id,
        "x",
        (title, content, reply),
    )


async def call(
    http: httpx.AsyncClient,
    method: str,
    target: str,
    *,
    token: str | None = None,
    body: Any = None,
) -> httpx.Response:
    """One request whose target (path and query) is sent exactly as given: no normalisation of
    `..` or escapes on the way, as an attacker's own client would send it."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await http.request(
        method,
        "/",
        content=orjson.dumps(body) if body is not None else None,
        headers=headers,
        extensions={"target": target.encode("latin-1")},
    )
