"""Schemathesis against the gateway: every operation of `/openapi.json`, valid and invalid
requests, with generated ids and with ids of real resources. No answer may be a 5xx, and every
error answer is a problem document.

`make test` runs a bounded, repeatable pass (`PARLEY_FUZZ_EXAMPLES`, default 40 per operation,
the same examples every time); `make fuzz` a long one with a random seed it prints.
"""

import os

import httpx
import pytest
from fuzz.fuzzing import Fuzzer, FuzzTarget

pytestmark = pytest.mark.e2e

DEFAULT_EXAMPLES = 40


def test_no_fuzzed_request_gets_a_5xx_or_an_error_that_is_not_a_problem(
    fuzz_target: FuzzTarget,
) -> None:
    examples = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
    seed_text = os.environ.get("PARLEY_FUZZ_SEED", "")
    seed = int(seed_text) if seed_text else None
    document = httpx.get(f"{fuzz_target.gateway}/openapi.json", timeout=30).json()
    fuzzer = Fuzzer.from_document(
        document,
        fuzz_target.gateway,
        log_in=fuzz_target.log_in,
        known_path_parameters=fuzz_target.known_path_parameters,
        max_examples=examples,
        seed=seed,
    )
    operations = fuzzer.operations()
    assert len(operations) >= 30, "the gateway documents every public route"
    report = fuzzer.run()
    print(f"fuzzed {len(operations)} operations, seed {seed}: {report.summary()}")
    assert not report.broken_operations, report.broken_operations
    exercised = set(report.by_operation)
    assert exercised == {f"{op.method.upper()} {op.path}" for op in operations}
    assert not report.findings, "\n" + "\n".join(str(f) for f in report.findings[:30])
