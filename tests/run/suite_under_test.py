"""`deploy/run/suite.py run` as a subprocess on free ports with names of its own, and what the
tests look at from outside: the supervisor, the processes of the suite, the ports."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from parley_kit.testing.plugin import drop_everything
from parley_kit.testing.servers import free_port
from parley_kit.testing.stack import Isolation, StackUrls, repo_root, search_engine

ROOT = repo_root()
SUITE_SCRIPT = ROOT / "deploy" / "run" / "suite.py"
SERVICES = ("auth", "messaging", "search", "gateway")
READY_TIMEOUT = 180.0


def suite_ports() -> dict[str, int]:
    """Four distinct free ports (never 8000-8003: other engineers run their suites there)."""
    ports: dict[str, int] = {}
    while len(ports) < len(SERVICES):
        port = free_port()
        if port not in ports.values():
            ports[SERVICES[len(ports)]] = port
    return ports


def base_environment(ports: Mapping[str, int], state_dir: Path) -> dict[str, str]:
    """The caller's environment without any PARLEY_ setting, plus the suite's ports (and free
    ops ports: /readyz and /metrics)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env |= {f"PARLEY_{name.upper()}_PORT": str(port) for name, port in ports.items()}
    env |= {f"PARLEY_{name.upper()}_OPS_PORT": str(free_port()) for name in ports}
    return env | {
        "PARLEY_STACK": "external",  # the test session brought the engines up
        "PARLEY_RUN_STATE_DIR": str(state_dir),
        "PYTHONUNBUFFERED": "1",
    }


def engine_environment(urls: StackUrls, names: Isolation) -> dict[str, str]:
    env: dict[str, str] = {}
    for service in SERVICES:
        prefix = f"PARLEY_{service.upper()}_"
        env |= {
            f"{prefix}MONGO_URL": urls.mongo_url,
            f"{prefix}MONGO_DB": f"{names.mongo_db}_{service}",
            f"{prefix}REDIS_URL": urls.redis_url,
            f"{prefix}REDIS_PREFIX": names.redis_prefix,
            f"{prefix}KAFKA_BOOTSTRAP": urls.kafka_bootstrap,
            f"{prefix}TOPIC_PREFIX": names.topic_prefix,
            f"{prefix}KAFKA_PARTITIONS": "1",
            f"{prefix}INTERNAL_SECRET": "run-tests-internal-secret",
        }
    return env | {
        "PARLEY_SEARCH_ENGINE": search_engine(urls.elasticsearch_url),
        "PARLEY_SEARCH_ELASTICSEARCH_URL": urls.elasticsearch_url,
        "PARLEY_SEARCH_INDEX_PREFIX": names.index_prefix,
        "PARLEY_SEARCH_CONSUMER_GROUP": f"{names.name}-search",
    }


def start_suite(env: Mapping[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, str(SUITE_SCRIPT), *args],
            env=dict(env),
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            # As from a terminal: a test runner started under `nohup` must not pass its
            # ignored SIGHUP on (the supervisor keeps an inherited "ignore").
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
        )


def suite_command(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`suite.py stop` or `status`, as `make stop` / `make status` run it."""
    return subprocess.run(
        [sys.executable, str(SUITE_SCRIPT), *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()


def alive(pid: int) -> bool:
    """Running (a zombie has released everything and counts as gone)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> dict[str, int]:
    """`{service: pid}` of the services whose parent is `pid`, read from /proc."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or int(fields[1]) != pid or fields[0] == "Z":
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for service in SERVICES:
            if f"parley_{service}".encode() in argv:
                found[service] = int(entry.name)
    return found


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def port_free(port: int) -> bool:
    """The next `make run` could listen on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class RunningSuite:
    """A started `suite.py run`: the supervisor process and what it started."""

    env: dict[str, str]
    ports: dict[str, int]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    services: dict[str, int] = field(default_factory=dict)  # pids, as first seen
    group: int = 0  # the services' process group

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def ops_url(self, service: str) -> str:
        """Where the service answers /readyz and /metrics."""
        return f"http://127.0.0.1:{self.env[f'PARLEY_{service.upper()}_OPS_PORT']}"

    @property
    def supervisor(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "not started"
        return self.process

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self) -> None:
        self.process = start_suite(self.env, self.log, "run")
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(ready(self.ops_url(s)) for s in SERVICES):
            if self.supervisor.poll() is not None:
                raise RuntimeError(
                    f"suite.py exited with {self.supervisor.returncode}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the suite was not ready in time:\n{self.tail()}")
            time.sleep(0.2)
        self.services = children(self.supervisor.pid)
        assert sorted(self.services) == sorted(SERVICES), self.services
        fields = _stat_fields(self.services["gateway"])
        assert fields is not None
        self.group = int(fields[2])

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def processes(self) -> list[int]:
        """The supervisor, every service it started, and every member of their group."""
        current = children(self.supervisor.pid).values()
        members = group_members(self.group) if self.group else []
        return sorted({self.supervisor.pid, *self.services.values(), *current, *members})

    def everything_gone(self) -> bool:
        """No process of the suite runs and every port is free."""
        return not any(alive(pid) for pid in self.processes()) and all(
            port_free(port) for port in self.ports.values()
        )

    def kill_leftovers(self) -> None:
        """Teardown after a failed test: SIGKILL the supervisor (its services die with it),
        then whatever is still in their group."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(10)
        if self.group and group_members(self.group):
            try:
                os.killpg(self.group, signal.SIGKILL)
            except ProcessLookupError:
                pass


class SuiteMaker:
    def __init__(self, urls: StackUrls, folder: Path) -> None:
        self.urls = urls
        self.folder = folder
        self.made: list[tuple[RunningSuite, Isolation]] = []

    def __call__(self) -> RunningSuite:
        """A new suite, started and ready."""
        names = Isolation.new()
        ports = suite_ports()
        env = base_environment(ports, self.folder / "state") | engine_environment(self.urls, names)
        suite = RunningSuite(env, ports, self.folder / f"suite-{names.name}.log")
        self.made.append((suite, names))
        suite.start()
        return suite

    async def clean_up(self) -> None:
        for suite, names in self.made:
            suite.kill_leftovers()
            await drop_everything(self.urls, names)


class SharedSuite:
    """One suite for the tests of a module that leave it serving; started on first use and
    again if a test stopped it."""

    def __init__(self, maker: SuiteMaker) -> None:
        self.maker = maker
        self.current: RunningSuite | None = None

    def running(self) -> RunningSuite:
        if self.current is None or self.current.supervisor.poll() is not None:
            self.current = self.maker()
        return self.current
