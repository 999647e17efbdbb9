"""`make status`: the supervisor, each service (port, health, version, pid, restarts) and each
engine (health and version, as `make stack-status` shows them).

Exit status: 0 when a `make run` suite is running and every service is ready, 1 when one is
not ready, 3 when no `make run` owns the ports.
"""

import asyncio
import subprocess
import sys
import time

import httpx

from parley_run.config import ROOT, ServiceSpec, SuiteConfig
from parley_run.kernel import listeners
from parley_run.probes import Readiness, readiness, version
from parley_run.state import ServiceState, SuiteRecord, SuiteSlot

EXIT_READY = 0
EXIT_NOT_READY = 1
EXIT_NOT_RUNNING = 3


async def _probe(specs: tuple[ServiceSpec, ...]) -> list[tuple[Readiness, str | None]]:
    async with httpx.AsyncClient() as client:

        async def one(spec: ServiceSpec) -> tuple[Readiness, str | None]:
            state, found = await asyncio.gather(
                readiness(client, spec.ops_url), version(client, spec.url)
            )
            return state, found

        return list(await asyncio.gather(*(one(spec) for spec in specs)))


def _service_line(
    spec: ServiceSpec, state: Readiness, found: str | None, known: ServiceState | None
) -> str:
    if state.ready:
        health = "ready"
    elif state.answered:
        health = "not ready"
    elif known is not None and known.state in {"starting", "restarting", "failed"}:
        health = known.state
    else:
        health = "down"
    pids = [known.pid] if known is not None and known.pid else listeners(spec.port)
    owner = f"pid {','.join(map(str, pids))}" if pids else "-"
    restarts = f"restarts {known.restarts}" if known is not None else ""
    line = (
        f"  {spec.name:<10} :{spec.port:<6} {health:<10} {found or '-':<8} {owner:<11} {restarts}"
    )
    if not state.ready and state.answered:
        line += "".join(f"\n      {check}" for check in state.failing or ("not ready",))
    return line.rstrip()


def _engines(config: SuiteConfig) -> str:
    if config.engines == "external":
        return "  external (PARLEY_STACK=external): each service's readiness above covers them"
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "local" / "stack.py"), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    return (result.stdout + result.stderr).rstrip() or "  (no answer from the stack)"


def _uptime(record: SuiteRecord) -> str:
    seconds = int(time.time() - record.started_at)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s"


def status(config: SuiteConfig) -> int:
    slot = SuiteSlot(config.state_dir, config.gateway.port)
    owner = slot.owner()
    if owner is not None:
        print(
            f"Parley at {owner.gateway_url}: running under `make run` "
            f"(supervisor pid {owner.supervisor.pid}, up {_uptime(owner)}); `make stop` stops it"
        )
    else:
        print(f"Parley: no `make run` owns gateway port {config.gateway.port}")
    print("Services:")
    probed = asyncio.run(_probe(config.services))
    known = owner.services if owner is not None else {}
    for spec, (state, found) in zip(config.services, probed, strict=True):
        print(_service_line(spec, state, found, known.get(spec.name)))
    print("Engines:")
    print(_engines(config))
    if owner is None:
        return EXIT_NOT_RUNNING
    return EXIT_READY if all(state.ready for state, _ in probed) else EXIT_NOT_READY
