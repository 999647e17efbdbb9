"""Backup and restore as docs/operations.md tells it, on the real engines: every command of its
"Backup and restore" section, in the order it gives, against a seeded suite and a restored one.

A suite is seeded through the gateway (users, a group with a mention and a reply, a direct
conversation) and dumped; then it keeps working after the backup (a message the restore must
forget, which also moves Redis's counters and search's index past the backup), and stops. The
dump is restored into new databases of the same deployment (same Redis prefix, topics and
search index), Redis is flushed, migrations run, the services start with migrations only
*checked* (as in Kubernetes), and search is rebuilt. Everything seeded before the backup is
there, nothing after it, and the next message continues the restored history."""

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from e2e_factories import PASSWORD, Person, close, member_of, tenant_with_owner
from e2e_suite import ProcessSuite
from ops.ops_docs import run, section_commands

from parley_client import ParleyClient
from parley_contracts.resources import SearchPage
from parley_kit.testing.stack import Isolation, StackUrls, repo_root

pytestmark = pytest.mark.e2e

SECTION = "Backup and restore"
# The procedure's commands in the order the section gives them; the test runs the section's
# own text, this list only pins what it must contain (a command dropped from the doc fails).
PROCEDURE = [
    'python -m parley_auth backup dump "$BACKUP"',
    'python -m parley_messaging backup dump "$BACKUP"',
    'python -m parley_auth backup restore "$BACKUP"',
    'python -m parley_messaging backup restore "$BACKUP"',
    "python -m parley_auth backup flush-redis",
    "python -m parley_messaging backup flush-redis",
    "python -m parley_auth migrate",
    "python -m parley_messaging migrate",
    "python -m parley_search migrate",
    "python -m parley_search reindex",
]


class RestoredSuite(ProcessSuite):
    """The deployment after the restore: its databases are the restored ones, and each service
    only checks its migrations when it starts (the doc's commands applied them)."""

    def environment(self, service: str) -> dict[str, str]:
        values = super().environment(service)
        if service != "gateway":
            values[f"PARLEY_{service.upper()}_MIGRATIONS"] = "check"
        return values


async def until_found(client: ParleyClient, q: str, expect: int) -> SearchPage:
    page = await client.search(q)
    for _ in range(100):
        if len(page.items) == expect:
            break
        await asyncio.sleep(0.1)
        page = await client.search(q)
    return page


@pytest.fixture
def suites(
    stack_urls: StackUrls, isolation: Isolation
) -> Iterator[tuple[ProcessSuite, ProcessSuite]]:
    logs = repo_root() / ".stack" / "logs" / f"backup-{isolation.name}"
    seeded = ProcessSuite(stack_urls, isolation, logs / "seeded")
    # Same deployment (Redis prefix, topics, search index, consumer groups), new databases.
    restored_names = replace(isolation, mongo_db=f"{isolation.mongo_db}_restored")
    restored = RestoredSuite(stack_urls, restored_names, logs / "restored")
    try:
        yield seeded, restored
    finally:
        seeded.stop_all()
        restored.stop_all()


async def test_the_documented_backup_and_restore_brings_back_the_data_and_rebuilds_search(
    suites: tuple[ProcessSuite, ProcessSuite], tmp_path: Path
) -> None:
    seeded, restored = suites
    commands = section_commands(SECTION)
    assert [c for c in commands if c in PROCEDURE] == PROCEDURE  # all of them, in this order
    assert set(commands) == set(PROCEDURE)  # and nothing the test does not run
    dump = [c for c in commands if " dump " in c]
    restore, reindex = commands[len(dump) : -1], commands[-1]
    extra = {"BACKUP": str(tmp_path / "backup")}  # where the dump goes

    # A deployment with data, backed up.
    await asyncio.to_thread(seeded.start_all)
    ada = await tenant_with_owner(seeded.gateway_url)
    bob = await member_of(seeded.gateway_url, ada, "bob")
    people: list[Person] = [ada, bob]
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="zoo")
        mention = await ada.client.send_message(group.id, "@bob the zebra enclosure plan")
        reply = await bob.client.send_message(group.id, "zebra stripes approved")
        direct = await ada.client.create_conversation("direct", [bob.user_id])
        private = await ada.client.send_message(direct.id, "a private zebra joke")
        assert len((await until_found(bob.client, "zebra", 3)).items) == 3
        for command in dump:
            await asyncio.to_thread(run, command, seeded, extra)

        # Work after the backup, which the restore must forget.
        later = await ada.client.send_message(group.id, "the walrus arrives after the backup")
        assert later.seq == 3
        assert len((await until_found(bob.client, "walrus", 1)).items) == 1
    finally:
        await close(*people)
    await asyncio.to_thread(seeded.stop_all)

    # Restore into empty databases, flush Redis, migrate; start; rebuild search.
    for command in restore:
        await asyncio.to_thread(run, command, restored, extra)
    await asyncio.to_thread(restored.start_all)
    await asyncio.to_thread(run, reindex, restored, extra)

    gateway = restored.gateway_url
    ada_again, bob_again = ParleyClient(gateway), ParleyClient(gateway)
    try:
        await ada_again.login(ada.tenant, "ada", PASSWORD)
        await bob_again.login(bob.tenant, "bob", PASSWORD)
        users = {u.username for u in (await ada_again.list_users()).items}
        conversations = {c.id for c in (await bob_again.list_conversations()).items}
        history = await bob_again.list_messages(group.id)
        feed = await bob_again.notifications()
        unread_mentions = (await bob_again.get_conversation(group.id)).unread_mention_count
        zebra = await bob_again.search("zebra")
        walrus = await bob_again.search("walrus")
        # Redis counters were rebuilt from the restored store, not left at the later seq.
        next_message = await ada_again.send_message(group.id, "back in business, zebra")
        found_next = await until_found(bob_again, "business", 1)
    finally:
        await ada_again.aclose()
        await bob_again.aclose()

    assert users == {"ada", "bob"}
    assert conversations == {group.id, direct.id}
    assert [(m.seq, m.content) for m in history.items] == [
        (2, reply.content),
        (1, mention.content),
    ]
    assert [n.message_id for n in feed.items] == [mention.id]
    assert unread_mentions == 1
    assert {hit.message.id for hit in zebra.items} == {mention.id, reply.id, private.id}
    assert walrus.items == []  # the rebuilt index holds what the store holds
    assert next_message.seq == 3
    assert [hit.message.id for hit in found_next.items] == [next_message.id]
