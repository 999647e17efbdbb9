"""Start the services of a suite, keep each one running, stop them all.

Every service is a child of this process (the only owner), in one process group of its own
(so a stop reaches anything a service itself started, and a terminal's Ctrl-C reaches only
the supervisor, which decides), and armed with a parent-death signal (so even a SIGKILL of the
supervisor takes every service with it). A service that exits is started again after a
backoff while the others keep serving; a stop sends SIGTERM to each (its own graceful
shutdown), then SIGKILL to whatever is left after the grace period.
"""

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from parley_run.backoff import RestartBackoff
from parley_run.config import RestartPolicy, ServiceSpec
from parley_run.console import Console
from parley_run.kernel import dies_with_this_process
from parley_run.probes import readiness
from parley_run.state import ServiceState

READY_POLL_SECONDS = 0.25
OUTPUT_LINE_LIMIT = 1 << 20  # a log line with a long traceback is still one line


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


@dataclass
class Supervised:
    spec: ServiceSpec
    backoff: RestartBackoff
    state: ServiceState = field(default_factory=ServiceState)
    process: asyncio.subprocess.Process | None = None
    ever_ready: bool = False
    exits_before_ready: int = 0
    last_exit: str = ""
    terminated: bool = False

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


@dataclass(frozen=True)
class StopReport:
    graceful: list[str]
    forced: list[str]
    seconds: float


class Supervisor:
    def __init__(
        self,
        specs: tuple[ServiceSpec, ...],
        environment: Mapping[str, str],
        policy: RestartPolicy,
        console: Console,
        on_change: Callable[[dict[str, ServiceState]], None],
    ) -> None:
        self.services = {spec.name: Supervised(spec, RestartBackoff(policy)) for spec in specs}
        self.environment = dict(environment)
        self.policy = policy
        self.console = console
        self.on_change = on_change
        self.group: int | None = None  # the suite's process group (pgid), once a service runs
        self.stopping = asyncio.Event()
        self.everyone_ready = asyncio.Event()  # set the first time all are ready at once
        # Why the suite cannot go on: a service crashing before it was ever ready, or a bug here.
        self.failure: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._keepers: list[asyncio.Task[None]] = []
        self._spawning = asyncio.Lock()
        self._http = httpx.AsyncClient()

    # --- starting and keeping alive ---------------------------------------------------------

    def start(self) -> None:
        for service in self.services.values():
            keeper = asyncio.create_task(self._keep_running(service))
            keeper.add_done_callback(self._keeper_ended)
            self._keepers.append(keeper)

    def _keeper_ended(self, keeper: "asyncio.Task[None]") -> None:
        if not keeper.cancelled() and keeper.exception() is not None:
            # A bug here must not leave a service silently unsupervised: say so and stop.
            self.console.say(f"supervising a service failed: {keeper.exception()!r}")
            if not self.failure.done():
                self.failure.set_result(f"the supervisor failed: {keeper.exception()!r}")

    def all_ready(self) -> bool:
        return all(s.state.state == "ready" for s in self.services.values())

    def states(self) -> dict[str, ServiceState]:
        return {name: service.state for name, service in self.services.items()}

    def _changed(self) -> None:
        if self.all_ready():
            self.everyone_ready.set()
        self.on_change(self.states())

    async def _spawn(self, service: Supervised) -> asyncio.subprocess.Process:
        """Start the service in the suite's process group (the first one founds it)."""

        async def spawn(group: int) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                service.spec.module,
                env=self.environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                process_group=group,
                preexec_fn=dies_with_this_process(),
                limit=OUTPUT_LINE_LIMIT,
            )

        async with self._spawning:  # one at a time: the group is settled before the next
            if self.group is not None:
                try:
                    return await spawn(self.group)
                except PermissionError:
                    # Every member of the group has exited, so it is gone: found a new one.
                    self.group = None
            process = await spawn(0)
            self.group = process.pid
            return process

    async def _keep_running(self, service: Supervised) -> None:
        name = service.spec.name
        while not self.stopping.is_set():
            try:
                process = await self._spawn(service)
            except OSError as exc:
                service.last_exit = f"could not start: {exc}"
                self.console.say(f"{name} {service.last_exit}")
                if not await self._back_off(service, ran_for=0.0):
                    return
                continue
            service.process, service.terminated = process, False
            service.state.pid, service.state.state = process.pid, "starting"
            self._changed()
            if self.stopping.is_set():
                self._terminate(service)  # started while the stop was being sent
            started = time.monotonic()
            printing = asyncio.create_task(self._print_output(service, process))
            watching = asyncio.create_task(self._announce_ready(service, process))
            returncode = await process.wait()
            watching.cancel()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                # Something the service started may still hold its output pipe: don't wait on it.
                await asyncio.wait_for(printing, 2)
            service.last_exit = exit_reason(returncode)
            service.state.pid = None
            if self.stopping.is_set():
                service.state.state = "stopped"
                self._changed()
                return
            if not await self._back_off(service, ran_for=time.monotonic() - started):
                return

    async def _back_off(self, service: Supervised, ran_for: float) -> bool:
        """Wait before the next start; False when the service is not to be started again."""
        name = service.spec.name
        if not service.ever_ready:
            service.exits_before_ready += 1
            if service.exits_before_ready >= self.policy.startup_attempts:
                service.state.state = "failed"
                self._changed()
                if not self.failure.done():
                    self.failure.set_result(
                        f"{name} exited {service.exits_before_ready} times before it was ready "
                        f"(last: {service.last_exit}); see its lines above"
                    )
                return False
        delay = service.backoff.delay_after(ran_for)
        service.state.restarts += 1
        service.state.state = "restarting"
        self._changed()
        self.console.say(
            f"{name} stopped ({service.last_exit}) after {ran_for:.1f}s; "
            f"starting it again in {delay:.1f}s (restart {service.state.restarts})"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        return not self.stopping.is_set()

    async def _print_output(self, service: Supervised, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                raw = await process.stdout.readline()
            except ValueError:  # longer than OUTPUT_LINE_LIMIT: the reader dropped it
                raw = b"(a line longer than 1 MiB was left out)"
            if not raw:
                return
            self.console.service_line(service.spec.name, raw.decode(errors="replace").rstrip())

    async def _announce_ready(
        self, service: Supervised, process: asyncio.subprocess.Process
    ) -> None:
        while process.returncode is None and not self.stopping.is_set():
            state = await readiness(self._http, service.spec.ops_url)
            if state.ready and not self.stopping.is_set():
                again = " again" if service.ever_ready else ""
                service.ever_ready, service.exits_before_ready = True, 0
                service.state.state = "ready"
                self._changed()
                self.console.say(
                    f"{service.spec.name} ready{again} on {service.spec.url}"
                    f" (/readyz and /metrics on {service.spec.ops_url})"
                )
                return
            await asyncio.sleep(READY_POLL_SECONDS)

    # --- stopping -----------------------------------------------------------------------------

    def _terminate(self, service: Supervised) -> None:
        if service.alive() and not service.terminated and service.process is not None:
            service.terminated = True
            service.state.state = "stopping"
            with contextlib.suppress(ProcessLookupError):
                service.process.send_signal(signal.SIGTERM)

    def _kill_group(self) -> None:
        """SIGKILL the whole group: services that outlived the grace, and anything they started."""
        if self.group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.group, signal.SIGKILL)
        for service in self.services.values():
            if service.alive() and service.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    service.process.kill()

    async def stop(self, grace: float, force: asyncio.Event) -> StopReport:
        """SIGTERM every service; after `grace` seconds (or when `force` is set), SIGKILL."""
        began = time.monotonic()
        self.stopping.set()
        for service in self.services.values():
            self._terminate(service)
        self._changed()
        keepers = asyncio.gather(*self._keepers, return_exceptions=True)
        forcing = asyncio.ensure_future(force.wait())
        waited: set[asyncio.Future[Any]] = {keepers, forcing}
        await asyncio.wait(waited, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        forcing.cancel()
        forced = [s.spec.name for s in self.services.values() if s.alive()]
        # Also when every service stopped: sweeps up whatever a service left in its group.
        self._kill_group()
        await keepers
        await self._http.aclose()
        graceful = [name for name in self.services if name not in forced]
        return StopReport(graceful=graceful, forced=forced, seconds=time.monotonic() - began)
