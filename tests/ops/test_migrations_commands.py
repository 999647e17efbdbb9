"""The "Migrations" commands of docs/operations.md on empty stores: `--check` reports every
step pending (exit 1), `migrate` applies them, then `--check` lists them applied (exit 0).
(The section's `kubectl` lines are checked against the rendered CronJobs in
tests/deploy/test_k8s_jobs.py.)"""

import asyncio
from pathlib import Path

import pytest
from e2e_suite import ProcessSuite
from ops.ops_docs import run, section_commands

from parley_auth.migrations import MIGRATIONS as AUTH
from parley_kit.testing.stack import Isolation, StackUrls
from parley_messaging.migrations import MIGRATIONS as MESSAGING
from parley_search.migrations import MIGRATIONS as SEARCH

pytestmark = pytest.mark.integration

STEPS = {"auth": AUTH.names, "messaging": MESSAGING.names, "search": SEARCH.names}


async def test_the_documented_migration_commands_apply_every_pending_step(
    stack_urls: StackUrls, isolation: Isolation, tmp_path: Path
) -> None:
    environments = ProcessSuite(stack_urls, isolation, tmp_path)  # started never: settings only
    commands = section_commands("Migrations")
    python = [c for c in commands if c.startswith("python ")]
    assert all(c.startswith("kubectl ") for c in commands if c not in python)
    checks = [c for c in python if c.endswith(" --check")]
    assert len(checks) == 3
    assert len(python) == 6

    before = [await asyncio.to_thread(run, c, environments, expect=1) for c in checks]
    first = [await asyncio.to_thread(run, c, environments) for c in python]

    for service, listing in zip(STEPS, before, strict=True):
        assert listing.split() == [w for name in STEPS[service] for w in ("pending", name)]
    applied = "".join(first)
    assert "pending" not in "".join(first[-3:])  # the checks after the migrations
    for service, names in STEPS.items():
        for name in names:
            assert f"applied  {name}\n" in applied, (service, name)
        assert f"{service}: {len(names)} migrations, {len(names)} applied now" in applied
