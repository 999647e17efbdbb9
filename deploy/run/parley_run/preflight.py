"""Before starting: is a suite already serving on these ports, and is it ready? Is a port held
by something else? "Running" means the gateway's `/readyz` says ready, not that it answers."""

from dataclasses import dataclass

from parley_run.config import ServiceSpec, SuiteConfig
from parley_run.kernel import describe, holders, listeners, listening
from parley_run.probes import Readiness, readiness_of
from parley_run.state import SuiteRecord


@dataclass(frozen=True)
class Verdict:
    """What to tell the operator instead of starting, and the exit code."""

    message: str
    exit_code: int


EXIT_ALREADY_READY = 0
EXIT_REFUSED = 3


def _not_ready(url: str, failing: tuple[str, ...], how_to_stop: str) -> Verdict:
    checks = "\n".join(f"  {check}" for check in failing) or "  (it names no failing check)"
    return Verdict(
        f"Parley answers at {url} but is not ready; failing:\n{checks}\n"
        f"Stop it with {how_to_stop}, then `make run` again.",
        EXIT_REFUSED,
    )


async def _gateway_readiness(gateway: ServiceSpec) -> Readiness:
    """The gateway's readiness at its ops port, or at its own port for a Parley from before
    the ops listener (or anything else that answers /readyz there)."""
    ops, public = await readiness_of([gateway.ops_url, gateway.url])
    return ops if ops.answered else public


async def already_owned(config: SuiteConfig, owner: SuiteRecord) -> Verdict:
    """Another `make run` holds this suite's slot."""
    gateway = await _gateway_readiness(config.gateway)
    supervisor = describe(owner.supervisor.pid)
    if gateway.ready:
        return Verdict(
            f"Parley is already running at {owner.gateway_url} (docs: {owner.gateway_url}/docs),"
            f" started by `make run` (supervisor {supervisor}). `make stop` stops it.",
            EXIT_ALREADY_READY,
        )
    failing = gateway.failing or (f"gateway: {gateway.reason()}",)
    return _not_ready(owner.gateway_url, failing, f"`make stop` (supervisor {supervisor})")


async def ports_in_use(config: SuiteConfig) -> Verdict | None:
    """None when every port of the suite is free."""
    taken = [spec for spec in config.services if listening(spec.port) or listening(spec.ops_port)]
    if not taken:
        return None
    gateway = config.gateway
    if gateway in taken:
        state = await _gateway_readiness(gateway)
        pids = " ".join(str(pid) for pid in listeners(gateway.port)) or "<pid>"
        if state.ready:
            return Verdict(
                f"Parley is already running at {gateway.url} (docs: {gateway.url}/docs), "
                f"not started by `make run` here: {holders(gateway.port)}.",
                EXIT_ALREADY_READY,
            )
        if state.parley:
            how = f"`kill {pids}` ({holders(gateway.port)})"
            return _not_ready(gateway.url, state.failing, how)
    lines = [
        f"  port {port} ({spec.name}) is taken by {holders(port)}"
        for spec in taken
        for port in (spec.port, spec.ops_port)
        if listening(port)
    ]
    return Verdict(
        "Cannot start: a port of the suite is taken by something that is not a ready Parley.\n"
        + "\n".join(lines)
        + "\nStop that process, or choose other ports with PARLEY_<SERVICE>_PORT "
        "(e.g. PARLEY_GATEWAY_PORT=18000).",
        EXIT_REFUSED,
    )
