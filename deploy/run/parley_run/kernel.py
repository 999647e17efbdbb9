"""What Linux guarantees about processes, so that no bookkeeping has to survive a crash.

- `dies_with_this_process`: a child asks the kernel (`prctl(PR_SET_PDEATHSIG)`) to be killed
  when its parent dies, even by SIGKILL.
- `ProcessIdentity`: a pid plus its start time and the boot it belongs to, so a recorded pid
  is never mistaken for a later process that reused the number.
- `listeners`: which processes listen on a TCP port (from /proc, no extra dependency).
"""

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
PROC = Path("/proc")
TCP_LISTEN = "0A"

# Loaded before any fork: the child only makes the call.
_libc = ctypes.CDLL(None, use_errno=True)


def dies_with_this_process(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn`: the child gets `sig` when this process (the thread that forks, which is
    the event loop's) dies. If this process died between fork and the call, the child exits."""
    parent = os.getpid()

    def arm() -> None:
        if _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(70)

    return arm


def boot_id() -> str:
    return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_ticks: int  # /proc/<pid>/stat field 22: when it started, in clock ticks after boot
    boot: str
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> "ProcessIdentity | None":
        try:
            stat = (PROC / str(pid) / "stat").read_text()
            raw = (PROC / str(pid) / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        # The command name (field 2) may hold spaces and parentheses: split after its last ")".
        fields = stat.rpartition(")")[2].split()
        if fields[0] == "Z":
            return None
        cmdline = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
        return cls(pid, int(fields[19]), boot_id(), cmdline)

    def is_running(self) -> bool:
        """The very process this identity was taken from is still alive."""
        return ProcessIdentity.of(self.pid) == self


def describe(pid: int) -> str:
    identity = ProcessIdentity.of(pid)
    if identity is None:
        return f"pid {pid}"
    command = " ".join(" ".join(identity.cmdline).split()) or "?"
    return f"pid {pid} ({command[:120]})"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rpartition(":")[2], 16)
                if local_port == port and fields[3] == TCP_LISTEN:
                    inodes.add(fields[9])
    return inodes


def listening(port: int) -> bool:
    """Something (of any user) listens on `port` in this network namespace."""
    return bool(_listening_inodes(port))


def listeners(port: int) -> list[int]:
    """The pids holding a listening socket on `port` (only processes this user may inspect)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return []
    found: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    found.append(int(entry.name))
                    break
    return sorted(found)


def holders(port: int) -> str:
    """Who holds `port`, for a message: "pid 12 (python -m x)", or why it cannot be told."""
    pids = listeners(port)
    if pids:
        return ", ".join(describe(pid) for pid in pids)
    return "a process this user cannot inspect" if listening(port) else "nothing"
