"""The machine the bench runs on, and where its CPU goes.

The load generator shares the cores with the suite and the engines, so every scenario records
three CPU figures over its measured window (in cores, i.e. CPU seconds per wall second):
`loadgen` (the bench's own processes: the coordinator and its workers, from their own CPU
clocks), `machine` (all busy time from /proc/stat) and `document_store` (the process serving
:27017, when it runs on this machine). `machine - loadgen` is what the system under test (and
anything else running on the machine) used.
"""

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
DOCUMENT_STORE_NAMES = ("ferretdb", "mongod")


def machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot; None off Linux."""
    try:
        fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def document_store_pid() -> int | None:
    """The local document store's process (FerretDB or mongod), found by its command line."""
    for entry in PROC.glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if Path(command).name in DOCUMENT_STORE_NAMES:
            return int(entry.name)
    return None


@dataclass
class CpuWindow:
    """CPU used between `start()` and `stop()`: machine-wide, by the document store, and by
    the bench itself (the coordinator's clock here; workers add theirs with `add_worker`)."""

    store_pid: int | None = None
    wall: float = 0.0
    machine_cores: float | None = None
    store_cores: float | None = None
    self_seconds: float = 0.0
    worker_cores: float = 0.0
    _wall0: float = 0.0
    _ticks0: tuple[int, int] | None = None
    _store0: float | None = None
    _self0: float = 0.0

    def start(self) -> "CpuWindow":
        self._wall0 = time.monotonic()
        self._ticks0 = machine_busy_ticks()
        self._store0 = process_cpu_seconds(self.store_pid) if self.store_pid else None
        self._self0 = time.process_time()
        return self

    def stop(self) -> "CpuWindow":
        self.wall = time.monotonic() - self._wall0
        ticks = machine_busy_ticks()
        if ticks and self._ticks0 and ticks[1] > self._ticks0[1]:
            busy = (ticks[0] - self._ticks0[0]) / (ticks[1] - self._ticks0[1])
            self.machine_cores = busy * (os.cpu_count() or 1)
        if self.store_pid and self._store0 is not None:
            store = process_cpu_seconds(self.store_pid)
            if store is not None and self.wall > 0:
                self.store_cores = (store - self._store0) / self.wall
        self.self_seconds = time.process_time() - self._self0
        return self

    def add_worker(self, cpu_seconds: float, wall_seconds: float) -> None:
        """A worker's average cores over its job (its job spans about this window)."""
        if wall_seconds > 0:
            self.worker_cores += cpu_seconds / wall_seconds

    def report(self) -> dict[str, float | None]:
        def cores(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        loadgen = self.worker_cores + (self.self_seconds / self.wall if self.wall > 0 else 0.0)
        return {
            "load_average_1m": round(os.getloadavg()[0], 2),
            "wall_seconds": round(self.wall, 3),
            "loadgen_cores": cores(loadgen),
            "machine_cores": cores(self.machine_cores),
            "document_store_cores": cores(self.store_cores),
        }


def describe_machine() -> dict[str, object]:
    model = ""
    try:
        for line in (PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib: float | None = None
    try:
        for line in (PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def git_revision(root: Path) -> str | None:
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{' (uncommitted changes in the tree)' if dirty else ''}"
