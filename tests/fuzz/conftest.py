"""The fuzzed suite: the four services as processes with names of their own (see
`fuzzing.FuzzedSuite`), and the tenant the fuzzer acts in."""

from collections.abc import Iterator

import pytest
from e2e_suite import ProcessSuite
from fuzz.fuzzing import FuzzedSuite, FuzzTarget, make_target

from parley_kit.testing.stack import Isolation, StackUrls, repo_root


@pytest.fixture(scope="session")
def fuzzed_suite(stack_urls: StackUrls) -> Iterator[ProcessSuite]:
    names = Isolation.new()
    suite = FuzzedSuite(stack_urls, names, repo_root() / ".stack" / "logs" / f"fuzz-{names.name}")
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()


@pytest.fixture(scope="session")
def fuzz_target(fuzzed_suite: ProcessSuite) -> FuzzTarget:
    return make_target(fuzzed_suite.gateway_url)
