"""Versioned migrations on the real document engine: each step applied once, in order, by one
run at a time; a service started with `check` refuses while one is pending."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from parley_kit.migrations import (
    LOCK,
    Migration,
    Migrations,
    MigrationsBusy,
    MigrationsPending,
    MongoLedger,
    create_index,
)
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

Database = AsyncDatabase[Any]


@pytest.fixture
async def database(stack_urls: StackUrls, isolation: Isolation) -> AsyncIterator[Database]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack_urls.mongo_url, tz_aware=True)
    try:
        yield client[isolation.mongo_db]
    finally:
        await client.drop_database(isolation.mongo_db)
        await client.close()


def counted_step(calls: list[str], name: str) -> Callable[[Database], Awaitable[None]]:
    """A step that records each time it runs, slowly enough that parallel runs overlap."""

    async def apply(database: Database) -> None:
        calls.append(name)
        await asyncio.sleep(0.2)
        await database["things"].insert_one({"step": name})

    return apply


def steps(calls: list[str]) -> Migrations[Database]:
    return Migrations(
        "kit-test",
        [
            Migration("0001-unique-slug", create_index("things", [("slug", 1)], unique=True)),
            Migration("0002-first", counted_step(calls, "0002-first")),
            Migration("0003-second", counted_step(calls, "0003-second")),
        ],
    )


async def test_steps_apply_once_in_order_and_a_repeat_applies_nothing(database: Database) -> None:
    calls: list[str] = []
    migrations = steps(calls)
    ledger = MongoLedger(database)

    with pytest.raises(MigrationsPending, match="0001-unique-slug, 0002-first, 0003-second"):
        await migrations.at_start(database, ledger, "check")
    first = await migrations.apply(database, ledger)
    second = await migrations.apply(database, ledger)
    await migrations.at_start(database, ledger, "check")  # nothing pending: starts

    assert first == ["0001-unique-slug", "0002-first", "0003-second"]
    assert second == []
    assert calls == ["0002-first", "0003-second"]
    indexes = [index async for index in await database["things"].list_indexes()]
    assert any(index.get("unique") and dict(index["key"]) == {"slug": 1} for index in indexes)


async def test_parallel_runs_take_turns_and_apply_each_step_once(database: Database) -> None:
    calls: list[str] = []
    migrations = steps(calls)

    results = await asyncio.gather(
        *(migrations.apply(database, MongoLedger(database), poll_seconds=0.05) for _ in range(4))
    )

    assert calls == ["0002-first", "0003-second"]
    assert sorted(name for applied in results for name in applied) == migrations.names
    assert await database["things"].count_documents({"step": {"$exists": True}}) == 2
    assert await database[LOCK].count_documents({}) == 0  # released


async def test_a_live_lock_makes_a_run_wait_and_a_dead_holders_lock_is_taken_over(
    database: Database,
) -> None:
    calls: list[str] = []
    migrations = steps(calls)
    ledger = MongoLedger(database)
    assert await ledger.claim("live-holder", lease_seconds=60)

    with pytest.raises(MigrationsBusy):
        await migrations.apply(database, ledger, wait_seconds=0.3, poll_seconds=0.05)
    assert calls == []

    # The holder died: its lease ran out, so the next run frees the lock and proceeds.
    await database[LOCK].update_one(
        {"_id": "lock"}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    applied = await migrations.apply(database, ledger, wait_seconds=1)

    assert applied == migrations.names
    assert calls == ["0002-first", "0003-second"]


async def test_a_step_that_fails_is_not_recorded_and_runs_again(database: Database) -> None:
    attempts: list[int] = []

    async def flaky(database: Database) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the store went away")

    migrations = Migrations(
        "kit-test",
        [
            Migration("0001-ok", create_index("things", [("a", 1)])),
            Migration("0002-flaky", flaky),
        ],
    )
    ledger = MongoLedger(database)
    with pytest.raises(RuntimeError):
        await migrations.apply(database, ledger)
    assert await migrations.pending(ledger) == ["0002-flaky"]
    assert await migrations.apply(database, ledger) == ["0002-flaky"]
    assert len(attempts) == 2


def test_steps_must_be_numbered_in_order_and_unique() -> None:
    step = create_index("things", [("a", 1)])
    with pytest.raises(ValueError, match="in order"):
        Migrations("x", [Migration("0002-b", step), Migration("0001-a", step)])
    with pytest.raises(ValueError, match="repeat"):
        Migrations("x", [Migration("0001-a", step), Migration("0001-a", step)])
    with pytest.raises(ValueError, match="in order"):
        Migrations("x", [Migration("add-index", step)])


async def test_a_run_longer_than_its_lease_keeps_the_lock_by_renewing_it(
    database: Database,
) -> None:
    calls: list[str] = []

    async def slow(database: Database) -> None:
        calls.append("slow")
        await asyncio.sleep(2.5)  # several leases long

    migrations = Migrations("kit-test", [Migration("0001-slow", slow)])
    first = asyncio.create_task(
        migrations.apply(database, MongoLedger(database), lease_seconds=1.0)
    )
    await asyncio.sleep(1.5)  # past the first lease: only renewal keeps it
    second = await migrations.apply(
        database, MongoLedger(database), lease_seconds=1.0, poll_seconds=0.05
    )

    assert await first == ["0001-slow"]
    assert second == []
    assert calls == ["slow"]
