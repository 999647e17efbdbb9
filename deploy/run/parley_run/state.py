"""The state folder of running suites: one lock and one record per gateway port.

The supervisor holds an exclusive `flock` on `gateway-<port>.lock` for as long as it lives; the
kernel drops it when the process ends however it ends, so "is a suite running here" never
depends on a clean exit. `gateway-<port>.json` says which process that is (pid, start time,
boot, command line) and how its services are doing; `make stop` signals the pid only when
the lock is held and the process still matches that identity.
"""

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from parley_run.kernel import ProcessIdentity

CLAIM_ATTEMPTS = 10


@dataclass
class ServiceState:
    pid: int | None = None
    state: str = "starting"  # starting, ready, restarting, failed, stopping, stopped
    restarts: int = 0


@dataclass
class SuiteRecord:
    supervisor: ProcessIdentity
    gateway_url: str
    ports: dict[str, int]
    started_at: float = field(default_factory=time.time)
    services: dict[str, ServiceState] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "SuiteRecord":
        raw: dict[str, Any] = json.loads(text)
        identity = raw["supervisor"]
        return cls(
            supervisor=ProcessIdentity(
                pid=int(identity["pid"]),
                start_ticks=int(identity["start_ticks"]),
                boot=str(identity["boot"]),
                cmdline=tuple(identity["cmdline"]),
            ),
            gateway_url=str(raw["gateway_url"]),
            ports={str(k): int(v) for k, v in raw["ports"].items()},
            started_at=float(raw["started_at"]),
            services={str(k): ServiceState(**v) for k, v in raw["services"].items()},
        )


class SuiteSlot:
    """The lock and record of the suite whose gateway listens on `gateway_port`."""

    def __init__(self, state_dir: Path, gateway_port: int) -> None:
        self.lock_path = state_dir / f"gateway-{gateway_port}.lock"
        self.record_path = state_dir / f"gateway-{gateway_port}.json"
        self._held: IO[str] | None = None

    def claim(self) -> bool:
        """Take the slot for this process's lifetime; False when a live process holds it.
        Retries for a moment: `make status` and `make stop` take the lock for an instant."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a")
        for _ in range(CLAIM_ATTEMPTS):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.1)
                continue
            self._held = handle
            return True
        handle.close()
        return False

    def release(self) -> None:
        if self._held is not None:
            self.record_path.unlink(missing_ok=True)
            self._held.close()
            self._held = None

    def occupied(self) -> bool:
        """A live process holds the slot (checked without keeping it)."""
        if not self.lock_path.exists():
            return False
        with self.lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def save(self, record: SuiteRecord) -> None:
        """Atomically (write and rename): a reader never sees half a record."""
        partial = self.record_path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(record.to_json())
        partial.replace(self.record_path)

    def load(self) -> SuiteRecord | None:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
            return SuiteRecord.from_json(self.record_path.read_text())
        return None

    def owner(self) -> SuiteRecord | None:
        """The record of the live supervisor holding the slot, verified to be that process."""
        record = self.load()
        if record is None or not self.occupied() or not record.supervisor.is_running():
            return None
        return record
