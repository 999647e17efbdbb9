"""Plain factories for e2e tests: tenants and users created through the gateway's client."""

import uuid
from dataclasses import dataclass

from parley_client import ParleyClient

PASSWORD = "correct horse battery"


@dataclass
class Person:
    client: ParleyClient
    tenant: str  # slug
    user_id: str
    username: str


async def tenant_with_owner(gateway: str, owner: str = "ada") -> Person:
    slug = f"e{uuid.uuid4().hex[:10]}"
    client = ParleyClient(gateway)
    created = await client.create_tenant(
        f"Tenant {slug}",
        slug,
        username=owner,
        email=f"{owner}@{slug}.example.com",
        password=PASSWORD,
    )
    return Person(client, slug, created.user.id, owner)


async def member_of(gateway: str, tenant: Person, username: str) -> Person:
    client = ParleyClient(gateway)
    signed = await client.signup(
        tenant.tenant, username, f"{username}@{tenant.tenant}.example.com", PASSWORD
    )
    return Person(client, tenant.tenant, signed.user.id, username)


async def close(*people: Person) -> None:
    for person in people:
        await person.client.aclose()
