"""One process suite per test session (the engines are reused); tests talk to the gateway."""

from collections.abc import Iterator

import pytest
from e2e_suite import ProcessSuite

from parley_kit.testing.stack import Isolation, StackUrls, repo_root


@pytest.fixture(scope="session")
def processes(stack_urls: StackUrls, session_isolation: Isolation) -> Iterator[ProcessSuite]:
    suite = ProcessSuite(
        stack_urls,
        session_isolation,
        repo_root() / ".stack" / "logs" / f"e2e-{session_isolation.name}",
    )
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()


@pytest.fixture
def gateway(processes: ProcessSuite) -> str:
    """The gateway URL; restarts any service a previous test killed."""
    missing = [
        s for s in ("auth", "messaging", "search", "gateway") if s not in processes.processes
    ]
    for service in missing:
        processes.start(service)
    if missing:
        processes.wait_ready(*missing)
    return processes.gateway_url
