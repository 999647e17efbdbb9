"""The people and conversations a run works with, created through the public API.

One fresh tenant per run (slug `bench<hex>`): an owner, `users` members, and conversations:
- `spread`: 8 group conversations (the send-over-8 and history scenarios), members: the first
  100 users (the "workers" of the load);
- `hot`: one more such conversation (the send-into-one scenario);
- `burst`: the drain scenario's burst writes here;
- `probe`: the owner's, for idle sends and the between-scenario probes;
- `visibility`: the owner's, for search visibility;
- `fanout`: the socket users split over a few conversations.

Several users per client keep each user under the gateway's per-user rate limit (50/s by
default), so a limit meant for one person does not cap the bench.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from parley_client import Conflict, ParleyClient, ParleyError, RateLimited, Unauthorized
from parley_contracts.resources import Tokens

PASSWORD = "bench correct horse battery"
WORKING_USERS = 100  # members of the send/history conversations
REFRESH_MARGIN = 360.0  # seconds of validity a token must have left when a scenario starts
T = TypeVar("T")


@dataclass
class Account:
    user_id: str
    username: str
    access_token: str
    refresh_token: str
    expires_at: float  # monotonic

    def keep(self, tokens: Tokens) -> None:
        self.access_token, self.refresh_token = tokens.access_token, tokens.refresh_token
        self.expires_at = time.monotonic() + tokens.expires_in


@dataclass
class Population:
    base: str
    tenant: str
    owner: Account
    users: list[Account]
    spread: list[str] = field(default_factory=list)
    hot: str = ""
    burst: str = ""
    probe: str = ""
    visibility: str = ""
    fanout: dict[str, list[Account]] = field(default_factory=dict)  # conversation -> members

    @property
    def working(self) -> list[Account]:
        return self.users[:WORKING_USERS]

    def client(self, account: Account | None = None, timeout: float = 15.0) -> ParleyClient:
        who = account or self.owner
        return ParleyClient(self.base, access_token=who.access_token, timeout=timeout)

    async def refresh_tokens(self) -> int:
        """Refresh every token close to expiry (workers get access tokens only, so a refresh
        never races another process); returns how many were refreshed."""
        due = [
            a for a in [self.owner, *self.users] if a.expires_at - time.monotonic() < REFRESH_MARGIN
        ]
        gate = asyncio.Semaphore(8)

        async def refresh(account: Account) -> None:
            async with gate, ParleyClient(self.base, refresh_token=account.refresh_token) as client:
                try:
                    account.keep(await patiently(client.refresh))
                except Unauthorized:
                    # A retried refresh whose first attempt did rotate (and then timed out)
                    # presents a spent token, which revokes the family: log in again.
                    account.keep(
                        await patiently(
                            lambda: client.login(self.tenant, account.username, PASSWORD)
                        )
                    )

        await asyncio.gather(*(refresh(account) for account in due))
        return len(due)


async def patiently(call: Callable[[], Awaitable[T]], attempts: int = 30) -> T:
    """Setup calls wait out rate limits and server or transport failures instead of failing
    the run (a retry after an ambiguous failure may meet a 409: callers handle it)."""
    for attempt in range(attempts):
        try:
            return await call()
        except RateLimited as exc:
            await asyncio.sleep(min(5.0, float(exc.retry_after)))
        except (ParleyError, httpx.TransportError) as exc:
            if isinstance(exc, ParleyError) and exc.status < 500:
                raise
            await asyncio.sleep(min(5.0, 0.5 * (attempt + 1)))
    return await call()


async def logged_in(client: ParleyClient, tenant: str, username: str) -> Account:
    tokens = await patiently(lambda: client.login(tenant, username, PASSWORD))
    me = await patiently(client.me)
    account = Account(me.id, username, "", "", 0.0)
    account.keep(tokens)
    return account


async def create_population(
    base: str, users: int, fanout_sockets: int, fanout_conversations: int, spread: int = 8
) -> Population:
    slug = f"bench{uuid.uuid4().hex[:10]}"
    async with ParleyClient(base) as owner_client:
        try:
            created = await patiently(
                lambda: owner_client.create_tenant(
                    f"Bench {slug}",
                    slug,
                    username="owner",
                    email=f"owner@{slug}.example.com",
                    password=PASSWORD,
                )
            )
            owner = Account(created.user.id, "owner", "", "", 0.0)
            owner.keep(created.tokens)
        except Conflict:
            # An attempt that timed out had created it after all.
            owner = await logged_in(owner_client, slug, "owner")

    gate = asyncio.Semaphore(8)

    gate = asyncio.Semaphore(8)

    async def sign_up(number: int) -> Account:
        username = f"u{number:04d}"
        async with gate, ParleyClient(base) as client:
            try:
                signed = await patiently(
                    lambda: client.signup(
                        slug, username, f"{username}@{slug}.example.com", PASSWORD
                    )
                )
            except Conflict:
                return await logged_in(client, slug, username)
        account = Account(signed.user.id, username, "", "", 0.0)
        account.keep(signed.tokens)
        return account

    accounts = list(await asyncio.gather(*(sign_up(n) for n in range(max(users, fanout_sockets)))))
    population = Population(base, slug, owner, accounts)
    working_ids = [a.user_id for a in population.working]
    async with population.client() as client:

        async def group(title: str, member_ids: list[str]) -> str:
            conversation = await patiently(
                lambda: client.create_conversation("group", member_ids, title=title)
            )
            return conversation.id

        population.spread = [await group(f"spread {n}", working_ids) for n in range(spread)]
        population.hot = await group("hot", working_ids)
        population.burst = await group("burst", working_ids)
        population.probe = await group("probe", [])
        population.visibility = await group("visibility", [])
        listeners = accounts[:fanout_sockets]
        share = max(1, len(listeners) // max(1, fanout_conversations))
        for n in range(fanout_conversations):
            members = (
                listeners[n * share : (n + 1) * share]
                if n < fanout_conversations - 1
                else listeners[n * share :]
            )
            if not members:
                continue
            conversation_id = await group(f"fanout {n}", [m.user_id for m in members])
            population.fanout[conversation_id] = members
    return population
