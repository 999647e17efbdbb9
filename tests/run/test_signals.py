"""SIGINT, SIGHUP or SIGKILL to the supervisor of `make run`: within 15 s no process of the suite
remains and every service port is free (SIGTERM: `make stop` in test_running_suite.py sends it).
The first three stop each service gracefully and the supervisor ends by the signal it got;
SIGKILL gives it no chance, and the kernel's parent-death signal takes the services with it."""

import signal

import pytest
from run.suite_under_test import SuiteMaker

from parley_kit.testing.stack import wait_for

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 15.0


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name
)
def test_a_signal_to_the_supervisor_stops_every_process_and_frees_every_port(
    new_suite: SuiteMaker, sig: signal.Signals
) -> None:
    suite = new_suite()
    processes = suite.processes()
    assert len(processes) == 5  # the supervisor and four services

    suite.supervisor.send_signal(sig)

    assert wait_for(suite.everything_gone, DEADLINE_SECONDS, interval=0.2), suite.tail()
    assert suite.supervisor.wait(5) == -sig, suite.tail()
    if sig != signal.SIGKILL:
        assert "every service stopped gracefully" in suite.output()
