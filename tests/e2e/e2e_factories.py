"""Plain factories for e2e tests: tenants and users created through the gateway's client."""

import asyncio
import uuid
from dataclasses import dataclass

from parley_client import Conflict, ParleyClient, RateLimited, Unavailable

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


async def crowd_of(gateway: str, tenant: Person, count: int, *, parallel: int = 4) -> list[Person]:
    """`count` members of the tenant, each with a client of their own. Auth bounds the password
    hashes of one client IP (all of these come from 127.0.0.1), so at most `parallel` signups
    run at once and a short "at capacity" answer (429/503 with a small Retry-After) is retried;
    a long Retry-After (an exhausted signup window) is raised. A signup answered 503 may still
    have created the account: its retry then logs in."""
    gate = asyncio.Semaphore(parallel)

    async def one(index: int) -> Person:
        username, exists = f"user{index:03d}", False
        async with gate:
            for _ in range(50):
                try:
                    if not exists:
                        return await member_of(gateway, tenant, username)
                    client = ParleyClient(gateway)
                    await client.login(tenant.tenant, username, PASSWORD)
                    return Person(client, tenant.tenant, (await client.me()).id, username)
                except Conflict:
                    exists = True
                except (RateLimited, Unavailable) as error:
                    wait = error.retry_after if isinstance(error, RateLimited) else 1
                    if wait > 5:
                        raise
                    await asyncio.sleep(min(wait, 0.2))
        raise TimeoutError(f"{username} could not sign up")

    return list(await asyncio.gather(*(one(index) for index in range(count))))
