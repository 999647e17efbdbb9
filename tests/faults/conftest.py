"""Fault tests run on a stack of their own (never the shared engines: they are stopped here)
and on the four services as processes (`e2e_suite.ProcessSuite`). Both are per session; the
stack's data goes with it, its logs and the services' logs stay under
`.stack/logs/faults-<name>/` with the report table."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_suite import ProcessSuite
from fault_load import REPORT
from fault_stack import FaultStack

from parley_kit.testing.stack import Isolation, repo_root


class FaultSuite(ProcessSuite):
    """The e2e processes, with access tokens that outlive a long run (sockets then never need
    re-authenticating mid-run, which is tested elsewhere)."""

    def environment(self, service: str) -> dict[str, str]:
        values = super().environment(service)
        if service == "auth":
            values["PARLEY_AUTH_ACCESS_TOKEN_SECONDS"] = "7200"
        return values


@pytest.fixture(scope="session")
def fault_names() -> Isolation:
    return Isolation.new()


@pytest.fixture(scope="session")
def fault_logs(fault_names: Isolation) -> Path:
    logs = repo_root() / ".stack" / "logs" / f"faults-{fault_names.name}"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


@pytest.fixture(scope="session")
def fault_stack(fault_logs: Path) -> Iterator[FaultStack]:
    stack = FaultStack(Path(tempfile.mkdtemp(prefix="parley-faults-")))
    shared = Path(os.environ.get("PARLEY_STACK_DIR") or repo_root() / ".stack")
    stack.reuse_downloads(shared.resolve())
    log = fault_logs / "stack.log"
    try:
        stack.up(log)
        yield stack
    finally:
        stack.down(log)
        engine_logs = stack.home / "logs"
        if engine_logs.exists():
            shutil.copytree(engine_logs, fault_logs / "engines", dirs_exist_ok=True)
        stack.remove()


@pytest.fixture(scope="session")
def fault_processes(
    fault_stack: FaultStack, fault_names: Isolation, fault_logs: Path
) -> Iterator[ProcessSuite]:
    suite = FaultSuite(fault_stack.urls, fault_names, fault_logs)
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("recovery per fault (tests/faults)")
        for line in REPORT:
            terminalreporter.write_line(line)
