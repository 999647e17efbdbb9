"""The "Migrations" commands of docs/operations.md on empty stores: `--check` reports every
step pending (exit 1), `migrate` applies them, then `--check` lists them applied (exit 0).
(The section's `kubectl` lines are checked against the rendered CronJobs in
tests/deploy/test_k8s_jobs.py.)"""

import asyncio
import os
import subprocess
import sys
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


@pytest.mark.parametrize("service", list(STEPS))
def test_a_service_that_only_checks_refuses_to_start_while_a_step_is_pending(
    stack_urls: StackUrls, isolation: Isolation, tmp_path: Path, service: str
) -> None:
    """`PARLEY_<SERVICE>_MIGRATIONS=check` (Kubernetes) on a store no job has migrated: the
    process exits, naming the first pending step and the command that applies it."""
    environments = ProcessSuite(stack_urls, isolation, tmp_path)
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        | environments.environment(service)
        | {f"PARLEY_{service.upper()}_MIGRATIONS": "check", "PARLEY_LOG_JSON": "false"}
    )
    done = subprocess.run(
        [sys.executable, "-m", f"parley_{service}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"migrations pending: {STEPS[service][0]}" in output, output
    assert f"python -m parley_{service} migrate" in output, output
