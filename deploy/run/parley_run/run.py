"""`make run`: claim the suite's slot, check the ports, bring up the engines, start and watch the
services until SIGTERM, SIGINT or SIGHUP, then stop them all.

How it ended is in the exit status:
- killed by the signal it received (a shell shows 128+N: 143, 130, 129) when every service
  stopped gracefully within the grace period;
- 4 when a service had to be killed after the grace period;
- 0 when a ready suite already serves these ports (nothing started);
- 1 when the suite could not start (engines, a service not ready in time or crashing at start);
- 3 when it refused to start (a port taken by something else, or a suite that is not ready).
"""

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from parley_run.config import SuiteConfig
from parley_run.console import Console
from parley_run.engines import EnginesFailed, start_engines
from parley_run.kernel import ProcessIdentity
from parley_run.preflight import already_owned, ports_in_use
from parley_run.state import ServiceState, SuiteRecord, SuiteSlot
from parley_run.supervisor import StopReport, Supervisor

EXIT_START_FAILED = 1
EXIT_FORCED = 4
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class StopRequests:
    """The first stop signal asks for a graceful stop; a second one forces it."""

    def __init__(self) -> None:
        self.first: asyncio.Future[signal.Signals] = asyncio.get_running_loop().create_future()
        self.force = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            # `nohup` asks to survive a closed terminal: keep its "ignore". (A background job's
            # ignored SIGINT is only a shell default; a SIGINT sent to this process stops it.)
            if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
                continue
            loop.add_signal_handler(sig, self._received, sig)

    def _received(self, sig: signal.Signals) -> None:
        if self.first.done():
            self.force.set()
        else:
            self.first.set_result(sig)


async def _until_stop(work: "asyncio.Future[Any]", stop: StopRequests) -> bool:
    """Wait for `work` unless a stop comes first (then cancel it); True when `work` finished."""
    waited: set[asyncio.Future[Any]] = {work, stop.first}
    await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    if work.done():
        return True
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await work
    return False


def banner(url: str, ops_urls: dict[str, str] | None = None) -> str:
    slug = f"demo-{int(time.time())}"
    body = (
        f'{{"name":"Demo","slug":"{slug}","owner":{{"username":"ada",'
        '"email":"ada@example.com","password":"correct-horse-battery"}}'
    )
    ops = ", ".join(f"{name} {ops_url}" for name, ops_url in (ops_urls or {}).items()) or "-"
    return f"""Parley is ready.
  gateway   {url}
  API docs  {url}/docs   (OpenAPI: {url}/openapi.json)
  socket    {url}/socket.io  (Socket.IO, auth: {{"token": <access_token>}})
  logs      above, one prefix per service; engine logs in .stack/logs/
  ops       {ops}  (/readyz, /metrics; not on the public port)

Try it (creates a tenant, then calls the API with the owner's token):
  TOKEN=$(curl -s -XPOST {url}/v1/tenants -H 'content-type: application/json' -d '{body}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["access_token"])')
  curl -s {url}/v1/auth/me -H "Authorization: Bearer $TOKEN"

Ctrl-C here or `make stop` in any terminal stops every service; `make status` shows health.
"""


async def _serve(config: SuiteConfig, slot: SuiteSlot, console: Console) -> int:
    stop = StopRequests()
    stop.install()
    identity = ProcessIdentity.of(os.getpid())
    assert identity is not None
    record = SuiteRecord(
        supervisor=identity,
        gateway_url=config.gateway.url,
        ports={spec.name: spec.port for spec in config.services},
    )
    slot.save(record)

    engines = asyncio.ensure_future(start_engines(config.engines, console))
    if not await _until_stop(engines, stop):
        console.say(f"{stop.first.result().name} received before any service started")
        return -stop.first.result()
    try:
        engine_environment = engines.result()
    except EnginesFailed as exc:
        console.say(f"the engines did not start ({exc}); see the messages above")
        return EXIT_START_FAILED

    def remember(states: dict[str, ServiceState]) -> None:
        record.services = states
        slot.save(record)

    supervisor = Supervisor(
        config.services,
        config.service_environment(os.environ | engine_environment),
        config.restart,
        console,
        remember,
    )
    supervisor.start()
    exit_code = await _wait_ready(config, supervisor, stop, console)
    if exit_code is None and not stop.first.done():
        ops_urls = {spec.name: spec.ops_url for spec in config.services}
        console.show("\n" + banner(config.gateway.url, ops_urls))
        waited: set[asyncio.Future[Any]] = {stop.first, supervisor.failure}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        if not stop.first.done():
            exit_code = EXIT_START_FAILED  # the supervisor itself failed (it said why)
    sig = stop.first.result() if stop.first.done() else None
    names = ", ".join(spec.name for spec in config.services)
    reason = f"{sig.name} received" if sig else "cannot go on"
    console.say(f"{reason}: stopping {names} (grace {config.stop_grace:.0f}s)")
    report = await supervisor.stop(config.stop_grace, stop.force)
    ended = _ended_by(sig or signal.SIGTERM, report, console)
    return ended if sig is not None else (exit_code or EXIT_START_FAILED)


async def _wait_ready(
    config: SuiteConfig, supervisor: Supervisor, stop: StopRequests, console: Console
) -> int | None:
    """None once every service is ready or a stop came first; an exit code when the start
    failed (a service crashing at start, or not ready in time)."""
    ready = asyncio.ensure_future(supervisor.everyone_ready.wait())
    waited: set[asyncio.Future[Any]] = {ready, supervisor.failure, stop.first}
    done, _ = await asyncio.wait(
        waited, timeout=config.ready_timeout, return_when=asyncio.FIRST_COMPLETED
    )
    ready.cancel()
    if stop.first.done():
        return None
    if supervisor.failure.done():
        console.say(f"not started: {supervisor.failure.result()}")
        return EXIT_START_FAILED
    if not done:
        pending = [n for n, s in supervisor.states().items() if s.state != "ready"]
        console.say(
            f"not ready after {config.ready_timeout:.0f}s (PARLEY_RUN_READY_TIMEOUT): "
            f"{', '.join(pending)}; its /readyz names the failing dependency, its lines are above"
        )
        return EXIT_START_FAILED
    return None


def _ended_by(sig: signal.Signals, report: StopReport, console: Console) -> int:
    if report.forced:
        console.say(
            f"stopped after {report.seconds:.1f}s; killed after the grace period: "
            f"{', '.join(report.forced)}"
        )
        return EXIT_FORCED
    console.say(f"every service stopped gracefully in {report.seconds:.1f}s")
    return -sig


def run(config: SuiteConfig) -> int:
    """A negative result means "end by this signal" (see `cli.exit_with`)."""
    console = Console([spec.name for spec in config.services])
    slot = SuiteSlot(config.state_dir, config.gateway.port)
    if not slot.claim():
        owner = slot.owner()
        if owner is not None:
            verdict = asyncio.run(already_owned(config, owner))
            print(verdict.message, flush=True)
            return verdict.exit_code
        print(f"Another `make run` is starting on these ports (lock {slot.lock_path}).")
        return 3
    try:
        refusal = asyncio.run(ports_in_use(config))
        if refusal is not None:
            print(refusal.message, flush=True)
            return refusal.exit_code
        return asyncio.run(_serve(config, slot, console))
    finally:
        slot.release()
