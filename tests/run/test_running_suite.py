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

from parley_kit.testing.stack import StackUrls, local_urls, wait_for

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
        return now not in (None, killed) and reported and ready(suite.ops_url("messaging"))

    os.kill(killed, signal.SIGKILL)

    assert wait_for(messaging_back, RESTART_SECONDS, interval=0.2), suite.tail()
    assert set(answers) == {200}
    assert "messaging stopped (killed by SIGKILL)" in suite.output()
    assert suite.supervisor.poll() is None


def test_status_shows_each_service_and_engine_with_its_health_and_version(
    shared_suite: SharedSuite, stack_urls: StackUrls
) -> None:
    suite = shared_suite.running()
    on_the_local_stack = stack_urls == local_urls()
    # The suite itself was told the engines are external (the session brought them up);
    # on the local stack, status can also ask the stack about each engine.
    env = suite.env | ({"PARLEY_STACK": "local"} if on_the_local_stack else {})

    result = suite_command(env, "status")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"supervisor pid {suite.supervisor.pid}" in result.stdout
    lines = result.stdout.splitlines()
    for name, port in suite.ports.items():
        running = httpx.get(f"{suite.url(name)}/openapi.json").json()["info"]["version"]
        line = next(line for line in lines if f":{port} " in line)
        assert line.split()[:4] == [name, f":{port}", "ready", running]
    if on_the_local_stack:
        engines = lines[lines.index("Engines:") + 1 :]
        for engine in ("redis", "ferretdb", "kafka", "opensearch"):
            line = next(line for line in engines if line.split()[0] == engine)
            assert line.split()[2] == "healthy", line
            assert len(line.split()) > 3  # and its version


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
