"""`make stop`: stop the suite a `make run` started, from any terminal.

The supervisor is signalled only when it holds the suite's lock and its pid still belongs to
the process recorded (same start time, boot and command line); it then stops its services as
for Ctrl-C. This waits until the supervisor has exited (the lock is free), so `make stop &&
make run` works; if it does not exit in time, it is killed, and its services die with it.
"""

import os
import signal
import time

from parley_run.config import SuiteConfig
from parley_run.kernel import holders, listening
from parley_run.state import SuiteSlot

EXIT_STOPPED = 0
EXIT_NOT_STOPPED = 1
RECORD_WAIT_SECONDS = 2.0  # a supervisor writes its record right after taking the lock
EXIT_MARGIN_SECONDS = 5.0


def _wait_until_free(slot: SuiteSlot, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while slot.occupied():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _leftovers(config: SuiteConfig) -> list[str]:
    return [
        f"  port {spec.port} ({spec.name}) is held by {holders(spec.port)}"
        for spec in config.services
        if listening(spec.port)
    ]


def stop(config: SuiteConfig) -> int:
    slot = SuiteSlot(config.state_dir, config.gateway.port)
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    owner = slot.owner()
    while owner is None and slot.occupied() and time.monotonic() < deadline:
        time.sleep(0.1)
        owner = slot.owner()
    if owner is None:
        if slot.occupied():
            print(
                f"The lock {slot.lock_path} is held, but not by the process its record names; "
                "not signalling anything."
            )
            return EXIT_NOT_STOPPED
        leftovers = _leftovers(config)
        if leftovers:
            print(
                "No `make run` owns these ports, but they are in use:\n"
                + "\n".join(leftovers)
                + "\nThose processes were not started by `make run`; stop them yourself."
            )
            return EXIT_NOT_STOPPED
        print(f"Parley is not running (no `make run` for gateway port {config.gateway.port}).")
        return EXIT_STOPPED

    pid = owner.supervisor.pid
    print(f"Stopping Parley at {owner.gateway_url} (supervisor pid {pid}) ...", flush=True)
    began = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    if _wait_until_free(slot, config.stop_grace + EXIT_MARGIN_SECONDS):
        print(f"Stopped in {time.monotonic() - began:.1f}s.")
        return EXIT_STOPPED
    if owner.supervisor.is_running():
        # Its services carry a parent-death signal: they go with it.
        os.kill(pid, signal.SIGKILL)
    if _wait_until_free(slot, EXIT_MARGIN_SECONDS):
        print(f"The supervisor did not exit in time and was killed (pid {pid}).")
    else:
        print(f"pid {pid} still holds {slot.lock_path}.")
    return EXIT_NOT_STOPPED
