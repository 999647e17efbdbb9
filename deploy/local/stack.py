"""The local stack: Kafka, OpenSearch, FerretDB and Redis as processes on 127.0.0.1.

    python deploy/local/stack.py up|down|status

Binaries come from the package registries reachable on a plain machine (Maven for Kafka and
the OpenSearch runner, the Go module proxy for FerretDB, Debian for Redis) and are cached under
`.stack/` (or `PARLEY_STACK_DIR`). supervisord runs the engines, restarts one that dies and
writes one log per engine under `.stack/logs/`. `up` is idempotent: what already answers is
left alone, and it returns only once every engine answers a real protocol request.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass(frozen=True)
class StackConfig:
    home: Path = field(
        default_factory=lambda: Path(os.environ.get("PARLEY_STACK_DIR", ROOT / ".stack"))
    )
    kafka_port: int = field(default_factory=lambda: env_int("PARLEY_STACK_KAFKA_PORT", 9092))
    kafka_controller_port: int = field(
        default_factory=lambda: env_int("PARLEY_STACK_KAFKA_CONTROLLER_PORT", 9093)
    )
    search_port: int = field(default_factory=lambda: env_int("PARLEY_STACK_ES_PORT", 9200))
    search_transport_port: int = field(
        default_factory=lambda: env_int("PARLEY_STACK_ES_TRANSPORT_PORT", 9300)
    )
    mongo_port: int = field(default_factory=lambda: env_int("PARLEY_STACK_MONGO_PORT", 27017))
    redis_port: int = field(default_factory=lambda: env_int("PARLEY_STACK_REDIS_PORT", 6379))
    kafka_heap: str = field(
        default_factory=lambda: os.environ.get("PARLEY_STACK_KAFKA_HEAP", "512m")
    )
    search_heap: str = field(default_factory=lambda: os.environ.get("PARLEY_STACK_ES_HEAP", "1g"))
    timeout: float = field(
        default_factory=lambda: float(os.environ.get("PARLEY_STACK_TIMEOUT", "180"))
    )

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def supervisor_conf(self) -> Path:
        return self.run / "supervisord.conf"

    @property
    def socket(self) -> Path:
        return self.run / "supervisor.sock"


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def run_logged(command: list[str], log: Path, cwd: Path | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"stack: `{' '.join(command)}` failed; see {log}")


# --- fetching ----------------------------------------------------------------------------------


def fetch_maven(config: StackConfig, name: str) -> Path:
    libs = config.home / name / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    say(f"fetching {name} from Maven (once; cached in {libs})")
    if shutil.which("mvn") is None:
        raise SystemExit("stack: Maven (mvn) is required to fetch Kafka and OpenSearch")
    shutil.rmtree(libs, ignore_errors=True)
    run_logged(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(HERE / name / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
        ],
        config.logs / f"fetch-{name}.log",
    )
    marker.touch()
    return libs


FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# FerretDB v1.24.2's SQLite backend finds documents by `_ferretdb_sjson->'$._id'` but indexes
# `_ferretdb_sjson->"_id"`. SQLite uses an expression index only for the same expression text,
# so every lookup, update and delete by `_id` scanned the whole table (about 50 ms per lookup
# at 20,000 documents instead of 0.1 ms). The patch makes the lookups use the index's text.
FERRETDB_PATCHES = {
    "internal/backends/sqlite/metadata/metadata.go": (
        "IDColumn = DefaultColumn + \"->'$._id'\"",
        'IDColumn = DefaultColumn + "->\\"_id\\""',
    ),
}
FERRETDB_BUILD = f"{FERRETDB_VERSION}+id-index-1"  # bump when a patch changes


def patched_ferretdb_source(config: StackConfig, log: Path) -> Path:
    """A copy of FerretDB's module source with `FERRETDB_PATCHES` applied."""
    downloaded = subprocess.run(
        ["go", "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
        cwd=HERE / "ferretdb",
        capture_output=True,
        text=True,
        check=False,
    )
    if downloaded.returncode != 0:
        log.write_text(downloaded.stdout + downloaded.stderr)
        raise SystemExit(f"stack: cannot download FerretDB; see {log}")
    source = Path(json.loads(downloaded.stdout)["Dir"])
    target = config.home / "src" / f"ferretdb-{FERRETDB_BUILD}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    for relative, (old, new) in FERRETDB_PATCHES.items():
        file = target / relative
        text = file.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"stack: FerretDB patch does not apply to {relative}")
        file.write_text(text.replace(old, new))
    return target


FERRETDB_SOURCES = [HERE / "ferretdb" / name for name in ("main.go", "go.mod", "go.sum")]


def ferretdb_current(config: StackConfig) -> bool:
    """Whether the built FerretDB is this build (launcher sources and patches)."""
    binary = config.home / "bin" / "ferretdb"
    stamp = config.home / "bin" / "ferretdb.build"
    return (
        binary.exists()
        and stamp.exists()
        and stamp.read_text() == FERRETDB_BUILD
        and all(s.stat().st_mtime <= binary.stat().st_mtime for s in FERRETDB_SOURCES)
    )


def fetch_ferretdb(config: StackConfig) -> Path:
    binary = config.home / "bin" / "ferretdb"
    stamp = config.home / "bin" / "ferretdb.build"
    sources = FERRETDB_SOURCES
    if ferretdb_current(config):
        return binary
    say(f"building FerretDB {FERRETDB_BUILD} from the Go module proxy (once)")
    if shutil.which("go") is None:
        raise SystemExit("stack: Go is required to build FerretDB")
    log = config.logs / "fetch-ferretdb.log"
    patched = patched_ferretdb_source(config, log)
    launcher = config.home / "src" / "ferretdb-launcher"
    shutil.rmtree(launcher, ignore_errors=True)
    launcher.mkdir(parents=True)
    for source in sources:
        shutil.copy(source, launcher / source.name)
    with (launcher / "go.mod").open("a") as go_mod:
        go_mod.write(f"\nreplace {FERRETDB_MODULE} => {patched}\n")
    binary.parent.mkdir(parents=True, exist_ok=True)
    run_logged(["go", "build", "-o", str(binary), "."], log, cwd=launcher)
    stamp.write_text(FERRETDB_BUILD)
    return binary


def fetch_redis(config: StackConfig) -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    say("installing redis-server from Debian packages")
    log = config.logs / "fetch-redis.log"
    apt = ["apt-get", "-y", "-q", "-o", "Dpkg::Use-Pty=0"]
    if os.geteuid() != 0:
        apt = ["sudo", "-n", *apt]
    env_cmd = ["env", "DEBIAN_FRONTEND=noninteractive"]
    run_logged([*env_cmd, *apt, "update"], log)
    run_logged([*env_cmd, *apt, "install", "redis-server"], log)
    found = shutil.which("redis-server")
    if not found:
        raise SystemExit(f"stack: redis-server is still missing; see {log}")
    return Path(found)


# --- configuring -------------------------------------------------------------------------------


def kafka_command(config: StackConfig, libs: Path) -> str:
    home = config.home / "kafka"
    data = config.data / "kafka"
    properties = home / "server.properties"
    properties.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{config.kafka_controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{config.kafka_port},"
                f"CONTROLLER://127.0.0.1:{config.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{config.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=1",
                # Services create their topics at startup; a typo must not create a topic.
                "auto.create.topics.enable=false",
                "delete.topic.enable=true",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=10",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=24",
                "",
            ]
        )
    )
    log4j = home / "log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=WARN, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.kafka.server.KafkaServer=INFO\n"
        "log4j.logger.kafka.server.BrokerServer=INFO\n"
    )
    java = (
        f"java -Xms{config.kafka_heap} -Xmx{config.kafka_heap} -XX:+UseG1GC"
        " -Djava.awt.headless=true"
        f" -Dlog4j.configuration=file:{log4j} -Dkafka.logs.dir={config.logs}"
        f" -cp '{libs}/*'"
    )
    if not (data / "meta.properties").exists():
        data.mkdir(parents=True, exist_ok=True)
        cluster_id = kafka_cluster_id()
        say("formatting Kafka storage (first start)")
        run_logged(
            [
                "bash",
                "-c",
                f"{java} kafka.tools.StorageTool format -t {cluster_id} -c {properties}",
            ],
            config.logs / "kafka-format.log",
        )
    return f"{java} kafka.Kafka {properties}"


def kafka_cluster_id() -> str:
    """A cluster id as Kafka's own `Uuid.randomUuid` makes them: URL-safe base64 of 16 random
    bytes, never starting with `-` (1 in 64 would, and the storage tool then reads the id as
    an option and refuses to format: a stack that failed to come up now and then)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def compile_search_launcher(config: StackConfig, libs: Path) -> Path:
    """`opensearch/Launcher.java` (exact ports, loopback only, errors shown), compiled once."""
    source = HERE / "opensearch" / "Launcher.java"
    classes = config.home / "opensearch" / "classes"
    compiled = classes / "Launcher.class"
    if compiled.exists() and compiled.stat().st_mtime >= source.stat().st_mtime:
        return classes
    if shutil.which("javac") is None:
        raise SystemExit("stack: a JDK (javac) is required to run OpenSearch")
    classes.mkdir(parents=True, exist_ok=True)
    run_logged(
        ["javac", "-d", str(classes), "-cp", f"{libs}/*", str(source)],
        config.logs / "fetch-opensearch.log",
    )
    return classes


def search_command(config: StackConfig, libs: Path) -> str:
    base = config.data / "opensearch"
    base.mkdir(parents=True, exist_ok=True)
    classes = compile_search_launcher(config, libs)
    return (
        f"java -Xms{config.search_heap} -Xmx{config.search_heap} -Djava.awt.headless=true"
        f" -cp '{libs}/*:{classes}' Launcher"
        f" {base} {config.search_port} {config.search_transport_port}"
    )


def mongo_command(config: StackConfig, binary: Path) -> str:
    return (
        f"{binary} -listen 127.0.0.1:{config.mongo_port} -data {config.data / 'ferretdb'}"
        f" -log-level {os.environ.get('PARLEY_STACK_FERRETDB_LOG_LEVEL', 'error')}"
    )


def redis_command(config: StackConfig, binary: Path) -> str:
    # A cache and a rate-limit store: no persistence, so every start is clean.
    return (
        f"{binary} --port {config.redis_port} --bind 127.0.0.1 --save '' --appendonly no"
        " --daemonize no --protected-mode yes --loglevel warning"
    )


def write_supervisor_conf(config: StackConfig, programs: dict[str, str]) -> None:
    sections = [
        "[unix_http_server]",
        f"file={config.socket}",
        "",
        "[supervisord]",
        f"logfile={config.logs / 'supervisord.log'}",
        f"pidfile={config.run / 'supervisord.pid'}",
        f"directory={config.home}",
        "nodaemon=false",
        "loglevel=warn",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{config.socket}",
        "",
    ]
    for name, command in programs.items():
        sections += [
            f"[program:{name}]",
            f'command=bash -c "exec {command}"',
            "autostart=false",
            "autorestart=true",
            "startsecs=3",
            "startretries=3",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=20",
            "redirect_stderr=true",
            f"stdout_logfile={config.logs / f'{name}.log'}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=1",
            "",
        ]
    config.run.mkdir(parents=True, exist_ok=True)
    config.supervisor_conf.write_text("\n".join(sections))


# --- health ------------------------------------------------------------------------------------


async def kafka_version(config: StackConfig) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=f"127.0.0.1:{config.kafka_port}", request_timeout_ms=3000
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        versions = admin._client.cluster
        jars = sorted((config.home / "kafka" / "libs").glob("kafka_2.13-*.jar"))
        version = jars[0].stem.removeprefix("kafka_2.13-") if jars else "unknown"
        brokers = len(versions.brokers())
        cluster_id = cluster["cluster_id"]
        return f"Kafka {version} (KRaft, cluster {cluster_id}, {brokers} broker, ApiVersions ok)"
    finally:
        await admin.close()


async def search_version(config: StackConfig) -> str:
    import httpx

    async with httpx.AsyncClient(timeout=3.0) as http:
        body = (await http.get(f"http://127.0.0.1:{config.search_port}/")).json()
    version = body["version"]
    return f"{version.get('distribution', 'elasticsearch')} {version['number']}"


async def mongo_version(config: StackConfig) -> str:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{config.mongo_port}", serverSelectionTimeoutMS=2000
    )
    try:
        info = await client.admin.command("buildInfo")
    finally:
        await client.close()
    # The embedded build reports "unknown" as its own version; the pinned one is in go.mod.
    flavour = "FerretDB v1.24.2" if "ferretdbVersion" in info else "MongoDB"
    return f"{flavour} (MongoDB wire {info['version']})"


async def redis_version(config: StackConfig) -> str:
    from redis.asyncio import Redis

    client = Redis(host="127.0.0.1", port=config.redis_port, socket_timeout=2)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return f"Redis {info['redis_version']}"


@dataclass(frozen=True)
class Engine:
    name: str
    port: Callable[[StackConfig], int]
    version: Callable[[StackConfig], Awaitable[str]]


ENGINES = (
    Engine("redis", lambda c: c.redis_port, redis_version),
    Engine("ferretdb", lambda c: c.mongo_port, mongo_version),
    Engine("kafka", lambda c: c.kafka_port, kafka_version),
    Engine("opensearch", lambda c: c.search_port, search_version),
)


async def probe(engine: Engine, config: StackConfig) -> str | None:
    try:
        return await asyncio.wait_for(engine.version(config), 6)
    except Exception:
        return None


def probe_all(config: StackConfig) -> dict[str, str | None]:
    async def gather() -> list[str | None]:
        return list(await asyncio.gather(*(probe(e, config) for e in ENGINES)))

    return dict(zip((e.name for e in ENGINES), asyncio.run(gather()), strict=True))


# --- commands ----------------------------------------------------------------------------------


def supervisorctl(config: StackConfig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor.supervisorctl",
            "-c",
            str(config.supervisor_conf),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def supervisor_running(config: StackConfig) -> bool:
    if not config.socket.exists() or not config.supervisor_conf.exists():
        return False
    return supervisorctl(config, "pid").stdout.strip().isdigit()


def program_states(config: StackConfig) -> dict[str, tuple[str, int]]:
    """`{program: (state, pid)}` as supervisord sees them (pid 0 when not running)."""
    states: dict[str, tuple[str, int]] = {}
    for line in supervisorctl(config, "status").stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        pid = 0
        if "pid" in parts:
            with contextlib.suppress(ValueError, IndexError):
                pid = int(parts[parts.index("pid") + 1].rstrip(","))
        states[parts[0]] = (parts[1], pid)
    return states


@contextlib.contextmanager
def locked(config: StackConfig) -> Iterator[None]:
    """One `up` or `down` at a time (parallel test sessions may all call `up`)."""
    config.run.mkdir(parents=True, exist_ok=True)
    with (config.run / "stack.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "    (no log yet)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


def up(config: StackConfig) -> int:
    with locked(config):
        return _up(config)


def _up(config: StackConfig) -> int:
    started = time.monotonic()
    for folder in (config.logs, config.data, config.run):
        folder.mkdir(parents=True, exist_ok=True)
    if supervisor_running(config) and not ferretdb_current(config):
        # A running stack from before a FerretDB patch: rebuild, and restart it on its data.
        fetch_ferretdb(config)
        say("restarting ferretdb on the rebuilt binary")
        supervisorctl(config, "restart", "ferretdb")
    health = probe_all(config)
    missing = [name for name, version in health.items() if version is None]
    if not missing:
        say(f"all engines already healthy ({time.monotonic() - started:.1f}s)")
        return status(config, health)
    taken = [
        name
        for name in missing
        if port_taken(next(e for e in ENGINES if e.name == name).port(config))
        and not supervisor_running(config)
    ]
    if taken:
        for name in taken:
            say(f"{name}: its port is taken by a process that does not answer as {name}")
        say("free the ports or set PARLEY_STACK_*_PORT (see deploy/local/README.md)")
        return 1
    programs = {
        "redis": redis_command(config, fetch_redis(config)),
        "ferretdb": mongo_command(config, fetch_ferretdb(config)),
        "kafka": kafka_command(config, fetch_maven(config, "kafka")),
        "opensearch": search_command(config, fetch_maven(config, "opensearch")),
    }
    if not supervisor_running(config):
        write_supervisor_conf(config, programs)
        config.socket.unlink(missing_ok=True)
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config.supervisor_conf)],
            check=True,
            start_new_session=True,
        )
        for _ in range(100):
            if supervisor_running(config):
                break
            time.sleep(0.1)
        else:
            say(f"supervisord did not start; its log: {config.logs / 'supervisord.log'}")
            return 1
    for name in missing:
        say(f"starting {name}")
        supervisorctl(config, "start", name)
    deadline = time.monotonic() + config.timeout
    pending = set(missing)
    failed: set[str] = set()
    while pending and time.monotonic() < deadline:
        health = probe_all(config)
        states = program_states(config)
        for name in sorted(pending):
            if health[name] is not None:
                say(f"{name} healthy: {health[name]}")
                pending.discard(name)
            elif states.get(name, ("", 0))[0] == "FATAL":
                failed.add(name)
                pending.discard(name)
        if pending:
            time.sleep(1)
    for name in sorted(failed):
        log = config.logs / f"{name}.log"
        say(f"{name} exited and could not be restarted; its log: {log}\n{log_tail(log)}")
    for name in sorted(pending):
        log = config.logs / f"{name}.log"
        say(
            f"{name} did not answer within {config.timeout:.0f}s "
            f"(PARLEY_STACK_TIMEOUT); its log: {log}\n{log_tail(log)}"
        )
    if pending or failed:
        return 1
    say(f"stack up in {time.monotonic() - started:.1f}s")
    return status(config)


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pid: int) -> None:
    """SIGTERM then SIGKILL the process group led by `pid` (each engine has its own)."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        if not pid_alive(pid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def down(config: StackConfig) -> int:
    with locked(config):
        return _down(config)


def _down(config: StackConfig) -> int:
    pid_file = config.run / "supervisord.pid"
    if supervisor_running(config):
        children = [pid for _, pid in program_states(config).values() if pid]
        say("stopping engines")
        supervisorctl(config, "stop", "all")
        supervisorctl(config, "shutdown")
        for _ in range(300):
            if not pid_file.exists():
                break
            time.sleep(0.1)
        # Whatever outlived supervisord (it should not) goes with its process group.
        for pid in children:
            kill_group(pid)
    if pid_file.exists():
        with contextlib.suppress(ValueError):
            kill_group(int(pid_file.read_text().strip()))
        pid_file.unlink(missing_ok=True)
    config.socket.unlink(missing_ok=True)
    busy = [
        f"{engine.name} (127.0.0.1:{engine.port(config)})"
        for engine in ENGINES
        if port_taken(engine.port(config))
    ]
    if busy:
        say(f"ports still taken, not by this stack's supervisor: {', '.join(busy)}")
        return 1
    say("stack down (no engine process left, ports free)")
    return 0


def status(config: StackConfig, health: dict[str, str | None] | None = None) -> int:
    health = health or probe_all(config)
    for engine in ENGINES:
        version = health[engine.name]
        state = (
            f"healthy    {version}"
            if version
            else f"unhealthy  (log: {config.logs / f'{engine.name}.log'})"
        )
        print(f"  {engine.name:<11} 127.0.0.1:{engine.port(config):<6} {state}")
    return 0 if all(health.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    config = StackConfig()
    return {"up": up, "down": down, "status": status}[command](config)


if __name__ == "__main__":
    sys.exit(main())
