"""One suite shared by the tests that leave it serving: a crashed service comes back while the
others keep serving, `make status` reports it, a second `make run` sees it is running, and
`make stop` from another process (a SIGTERM to the supervisor) ends it: within 15 s no process
of the suite remains and every port is free."""

import os
import signal
import subprocess

import httpx
import pytest
from run.suite_under_test import ROOT, SharedSuite, children, ready, start_suite, suite_command

from parley_kit.testing.stack import wait_for

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 15.0
RESTART_SECONDS = 90.0


def test_a_killed_service_is_restarted_while_the_gateway_keeps_answering(
    shared_suite: SharedSuite,
) -> None:
    suite = shared_suite.running()
    supervisor = suite.supervisor.pid
    killed = children(supervisor)["messaging"]
    answers: list[int | str] = []

    def messaging_back() -> bool:
        # Through the gateway to auth: the edge and another service keep serving meanwhile.
        try:
            answers.append(httpx.get(f"{suite.url('gateway')}/.well-known/jwks.json").status_code)
        except httpx.HTTPError as exc:
            answers.append(repr(exc))
        now = children(supervisor).get("messaging")
        reported = "messaging ready again" in suite.output()
        return now not in (None, killed) and reported and ready(suite.url("messaging"))

    os.kill(killed, signal.SIGKILL)

    assert wait_for(messaging_back, RESTART_SECONDS, interval=0.2), suite.tail()
    assert set(answers) == {200}
    assert "messaging stopped (killed by SIGKILL)" in suite.output()
    assert suite.supervisor.poll() is None


def test_status_shows_each_service_with_its_health_and_version(shared_suite: SharedSuite) -> None:
    suite = shared_suite.running()

    result = suite_command(suite.env, "status")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"supervisor pid {suite.supervisor.pid}" in result.stdout
    for name, port in suite.ports.items():
        line = next(line for line in result.stdout.splitlines() if f":{port} " in line)
        assert line.split()[:4] == [name, f":{port}", "ready", "0.1.0"]
    assert "Engines:" in result.stdout


def test_a_second_run_says_it_is_already_running_and_starts_nothing(
    shared_suite: SharedSuite,
) -> None:
    suite = shared_suite.running()
    before = children(suite.supervisor.pid)
    log = suite.log.with_name("second-run.log")

    second = start_suite(suite.env, log, "run")

    assert second.wait(60) == 0, log.read_text()
    assert f"Parley is already running at {suite.url('gateway')}" in log.read_text()
    assert children(suite.supervisor.pid) == before


def test_make_stop_from_another_process_stops_every_process_and_frees_every_port(
    shared_suite: SharedSuite,
) -> None:
    suite = shared_suite.running()

    stop = subprocess.run(
        ["make", "--no-print-directory", "-s", "stop"],
        cwd=ROOT,
        env=suite.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert wait_for(suite.everything_gone, DEADLINE_SECONDS, interval=0.2), suite.tail()
    assert suite.supervisor.wait(5) == -signal.SIGTERM
    assert "every service stopped gracefully" in suite.output()
