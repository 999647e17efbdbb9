"""Versioned migrations: a service's store setup as ordered, named, idempotent steps.

Each service lists its steps (`Migration`: a name such as `0002-users-unique-keys` and what it
does) in `parley_<service>/migrations.py`; a step, once applied, is recorded in a ledger under
its name, so it runs once per deployment and a new release adds steps instead of re-running
setup on every start. The ledger of a MongoDB database is its `_migrations` collection
(`_id` = step name; an insert under a unique `_id` is atomic on every engine, FerretDB
included); search keeps its ledger in the search engine (see `parley_search.migrations`).

Steps are idempotent (creating an index that exists is a no-op), so a run that died between a
step and its record repeats the step harmlessly. Runs still take turns: a run claims the
ledger's lock (a document inserted under a unique key, with a lease the run renews while it
works, so a runner that dies frees it within a lease), so two replicas or Jobs starting
together never apply steps at once.

When steps run is one rule, the setting `PARLEY_<SERVICE>_MIGRATIONS`:
- `apply` (the local default: `make run`, tests, compose): the service applies pending steps
  when it starts, before it serves;
- `check` (Kubernetes): `python -m parley_<service> migrate` (the migrate Job) applies them,
  and a service refuses to start while a step is pending, naming it.
"""

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar

import pymongo
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from parley_kit.logs import get_logger
from parley_kit.mongo import store_client
from parley_kit.settings import ServiceSettings

log = get_logger(__name__)

T = TypeVar("T")
MigrationsMode = Literal["apply", "check"]

LEDGER = "_migrations"
LOCK = "_migrations_lock"
# A runner renews its lease every third of it while it works (however long a step takes); one
# that dies holding the lock delays the next run by at most this.
LEASE_SECONDS = 30.0
# How long a run waits for another run to finish before giving up.
WAIT_SECONDS = 300.0
# Every ledger call carries a deadline (the store keeps executing abandoned queries).
LEDGER_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Migration(Generic[T]):
    """One step: `name` orders it (a four-digit number first) and names it in the ledger;
    `apply` must be idempotent (a step may be repeated after a run died before recording it)."""

    name: str
    apply: Callable[[T], Awaitable[None]]


class Ledger(Protocol):
    """Where a deployment records the steps applied, and the lock that makes runs take turns."""

    async def applied(self) -> set[str]: ...

    async def record(self, name: str) -> None:
        """Record a step as applied (recording one twice is harmless)."""

    async def claim(self, holder: str, lease_seconds: float) -> bool:
        """Take the run lock for `holder` unless another live holder has it."""

    async def renew(self, holder: str, lease_seconds: float) -> None:
        """Extend `holder`'s lease (nothing if it no longer holds the lock)."""

    async def release(self, holder: str) -> None: ...


class MigrationsPending(RuntimeError):
    """The service was started with `check` while steps are pending."""


class MigrationsBusy(RuntimeError):
    """Another run held the lock for longer than this run would wait."""


class Migrations(Generic[T]):
    """The steps of one service, in order."""

    def __init__(self, service: str, steps: Sequence[Migration[T]]) -> None:
        names = [step.name for step in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"{service}: migration names repeat: {names}")
        if names != sorted(names) or not all(name[:4].isdigit() for name in names):
            raise ValueError(f"{service}: migrations are named NNNN-... in order: {names}")
        self.service = service
        self.steps = tuple(steps)

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.steps]

    async def pending(self, ledger: Ledger) -> list[str]:
        applied = await ledger.applied()
        return [step.name for step in self.steps if step.name not in applied]

    async def apply(
        self,
        target: T,
        ledger: Ledger,
        *,
        wait_seconds: float = WAIT_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = 0.2,
    ) -> list[str]:
        """Apply every pending step in order, under the run lock; the names applied."""
        holder = secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_seconds
        while not await ledger.claim(holder, lease_seconds):
            if loop.time() >= give_up:
                raise MigrationsBusy(
                    f"{self.service}: another migration run holds the lock; retry when it ends"
                )
            await asyncio.sleep(poll_seconds)
        applied: list[str] = []
        renewing = asyncio.create_task(self._renew(ledger, holder, lease_seconds))
        try:
            # Read after taking the lock: a run that held it may have applied everything.
            pending = set(await self.pending(ledger))
            for step in self.steps:
                if step.name not in pending:
                    continue
                log.info("applying migration", service=self.service, migration=step.name)
                await step.apply(target)
                await ledger.record(step.name)
                applied.append(step.name)
        finally:
            renewing.cancel()
            await ledger.release(holder)
        return applied

    async def _renew(self, ledger: Ledger, holder: str, lease_seconds: float) -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            try:
                await ledger.renew(holder, lease_seconds)
            except Exception as exc:  # the next renewal may succeed; the lease has slack
                log.warning("migration lock not renewed", service=self.service, error=str(exc))

    async def check(self, ledger: Ledger) -> None:
        """Raise `MigrationsPending`, naming the steps, unless all are applied."""
        pending = await self.pending(ledger)
        if pending:
            raise MigrationsPending(
                f"{self.service}: migrations pending: {', '.join(pending)}; run "
                f"`python -m parley_{self.service} migrate` (the migrate job) first, or set "
                f"PARLEY_{self.service.upper()}_MIGRATIONS=apply"
            )

    async def at_start(self, target: T, ledger: Ledger, mode: MigrationsMode) -> None:
        """What a starting service does, by its `migrations` setting."""
        if mode == "apply":
            await self.apply(target, ledger)
        else:
            await self.check(ledger)


def now() -> datetime:
    return datetime.now(UTC)


class MongoLedger:
    """The ledger of one MongoDB database: `_migrations` (`_id` = step name) and the lock,
    one document in `_migrations_lock` (`_id` = "lock"), inserted to take it."""

    def __init__(self, database: AsyncDatabase[Any]) -> None:
        self._ledger = database[LEDGER]
        self._lock = database[LOCK]

    async def applied(self) -> set[str]:
        with pymongo.timeout(LEDGER_TIMEOUT_SECONDS):
            return {str(document["_id"]) async for document in self._ledger.find({}, {"_id": 1})}

    async def record(self, name: str) -> None:
        try:
            with pymongo.timeout(LEDGER_TIMEOUT_SECONDS):
                await self._ledger.insert_one({"_id": name, "applied_at": now()})
        except DuplicateKeyError:
            pass  # recorded by an earlier run that died before releasing the lock

    async def claim(self, holder: str, lease_seconds: float) -> bool:
        lock = {
            "_id": "lock",
            "holder": holder,
            "expires_at": now() + timedelta(seconds=lease_seconds),
        }
        with pymongo.timeout(LEDGER_TIMEOUT_SECONDS):
            try:
                await self._lock.insert_one(lock)
                return True
            except DuplicateKeyError:
                pass
            found = await self._lock.find_one({"_id": "lock"})
            if found is not None and found["expires_at"].replace(tzinfo=UTC) > now():
                return False
            # The holder died: free its lock (only that holder's; a delete is atomic), retry.
            if found is not None:
                await self._lock.delete_one({"_id": "lock", "holder": found["holder"]})
            try:
                await self._lock.insert_one(lock)
                return True
            except DuplicateKeyError:
                return False

    async def renew(self, holder: str, lease_seconds: float) -> None:
        expires_at = now() + timedelta(seconds=lease_seconds)
        with pymongo.timeout(LEDGER_TIMEOUT_SECONDS):
            await self._lock.update_one(
                {"_id": "lock", "holder": holder}, {"$set": {"expires_at": expires_at}}
            )

    async def release(self, holder: str) -> None:
        with pymongo.timeout(LEDGER_TIMEOUT_SECONDS):
            await self._lock.delete_one({"_id": "lock", "holder": holder})


def create_index(
    collection: str, keys: Sequence[tuple[str, int]], *, unique: bool = False
) -> Callable[[AsyncDatabase[Any]], Awaitable[None]]:
    """A step that creates one index (a no-op when it exists). One index per `createIndexes`:
    FerretDB 1.x drops the connection on a multi-index call that repeats existing ones."""

    async def apply(database: AsyncDatabase[Any]) -> None:
        await database[collection].create_indexes([pymongo.IndexModel(list(keys), unique=unique)])

    return apply


async def cli(migrations: Migrations[T], target: T, ledger: Ledger, argv: Sequence[str]) -> int:
    """`migrate` (apply what is pending) or `migrate --check` (exit 1 while any is pending)."""
    if list(argv) == ["--check"]:
        pending = await migrations.pending(ledger)
        for name in migrations.names:
            print(f"{'pending' if name in pending else 'applied'}  {name}")
        return 1 if pending else 0
    if argv:
        print(f"usage: python -m parley_{migrations.service} migrate [--check]")
        return 2
    applied = await migrations.apply(target, ledger)
    for name in applied:
        print(f"applied  {name}")
    print(f"{migrations.service}: {len(migrations.steps)} migrations, {len(applied)} applied now")
    return 0


async def mongo_cli(
    migrations: Migrations[AsyncDatabase[Any]], settings: ServiceSettings, argv: Sequence[str]
) -> int:
    """`python -m parley_<service> migrate [--check]` against the service's database."""
    client = store_client(settings.mongo_url, settings.mongo_ca_file)
    try:
        database = client[settings.mongo_db]
        return await cli(migrations, database, MongoLedger(database), argv)
    finally:
        await client.close()
