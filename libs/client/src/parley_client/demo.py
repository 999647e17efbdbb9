"""`python -m parley_client.demo` (or `make demo`): seed a demo tenant and print how to use it.

Creates tenant `demo` with users ada (owner), bob and cy, a group conversation and a direct
one with a few messages, in which bob mentions cy and ada (the group's admin) pins the launch
date. Running it again reuses what exists (it logs in instead).
"""

import argparse
import asyncio
import sys

import httpx

from parley_client.client import ParleyClient
from parley_client.errors import Conflict, ParleyError

TENANT = "demo"
PASSWORD = "parley-demo-password"
PEOPLE = ("ada", "bob", "cy")


async def _person(gateway: str, name: str) -> ParleyClient:
    client = ParleyClient(gateway)
    email = f"{name}@demo.example.com"
    try:
        if name == PEOPLE[0]:
            await client.create_tenant(
                "Demo", TENANT, username=name, email=email, password=PASSWORD
            )
        else:
            await client.signup(TENANT, name, email, PASSWORD)
    except Conflict:
        await client.login(TENANT, name, PASSWORD)
    return client


async def seed(gateway: str) -> int:
    clients = [await _person(gateway, name) for name in PEOPLE]
    try:
        ada, bob, cy = clients
        ids = {name: (await c.me()).id for name, c in zip(PEOPLE, clients, strict=True)}
        existing = await ada.list_conversations()
        group = next((c for c in existing.items if c.title == "launch"), None)
        if group is None:
            group = await ada.create_conversation("group", [ids["bob"], ids["cy"]], title="launch")
            await ada.send_message(group.id, "Welcome to Parley! The launch is on Friday.")
            await bob.send_message(group.id, "The deployment checklist is in the docs.")
            await cy.send_message(group.id, "I'll run the smoke tests at noon.")
        direct = await ada.create_conversation("direct", [ids["bob"]])
        if direct.last_seq == 0:
            await ada.send_message(direct.id, "Bob, can you review my PR?")
        # A mention: cy is notified (feed, unread mention count, `mention.created` on sockets).
        mentions = await cy.notifications(limit=1)
        if not mentions.items:
            await bob.send_message(group.id, "@cy can you check the release notes before Friday?")
            mentions = await cy.notifications(limit=1)
        mention = mentions.items[0]
        unread_mentions = (await cy.get_conversation(group.id)).unread_mention_count
        # A pin: the group's admin pins the first message (`message.pinned` on members' sockets).
        pinned = await ada.pins(group.id)
        if not pinned:
            first = (await ada.list_messages(group.id, after_seq=0, limit=1)).items[0]
            pinned = [await ada.pin_message(group.id, first.id)]
        token = ada.access_token
    finally:
        for client in clients:
            await client.aclose()
    print(
        f"""
Demo tenant "{TENANT}" is ready at {gateway}
  users     {", ".join(PEOPLE)}  (password: {PASSWORD})
  group     "launch" {group.id}
  direct    ada <-> bob {direct.id}
  mention   bob -> cy in "launch": "{mention.excerpt}"
            (cy: {unread_mentions} unread mention(s); GET /v1/me/notifications as cy lists it)
  pin       ada pinned in "launch": "{pinned[0].content}"
            (GET /v1/conversations/{group.id}/pins)

Ada's access token (15 minutes):
  export TOKEN={token}
  curl -s {gateway}/v1/conversations -H "Authorization: Bearer $TOKEN"
  curl -s "{gateway}/v1/search/messages?q=deploy" -H "Authorization: Bearer $TOKEN"

Log in again later:
  curl -s -XPOST {gateway}/v1/auth/login -H 'content-type: application/json' \\
    -d '{{"tenant":"{TENANT}","login":"ada","password":"{PASSWORD}"}}'
Socket.IO: connect to {gateway} (path /socket.io) with auth {{"token": "<access_token>"}}.
"""
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(seed(args.gateway))
    except httpx.TransportError:
        print(
            f"No gateway answers at {args.gateway}; start Parley with `make run`.", file=sys.stderr
        )
        return 1
    except ParleyError as exc:
        print(f"The demo could not be seeded: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
