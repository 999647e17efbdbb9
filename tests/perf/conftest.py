"""The smoke test's suite: the four services as processes with names isolated for the session
(the e2e suite's launcher), on free ports."""

from collections.abc import Iterator

import pytest
from e2e_suite import ProcessSuite

from parley_kit.testing.stack import Isolation, StackUrls, repo_root


@pytest.fixture(scope="session")
def bench_suite(stack_urls: StackUrls, session_isolation: Isolation) -> Iterator[ProcessSuite]:
    suite = ProcessSuite(
        stack_urls,
        session_isolation,
        repo_root() / ".stack" / "logs" / f"bench-{session_isolation.name}",
    )
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()
