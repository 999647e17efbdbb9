"""A second local stack for fault tests: the four engines on ports of their own, under a
`PARLEY_STACK_DIR` of their own, so stopping one never touches the engines other people use.

It reuses the shared stack's downloads (Kafka and OpenSearch jars, the FerretDB build) by
linking them, so it starts in about a minute instead of fetching ~110 MB again; its data, run
files and logs are its own. Engines are stopped and started through its supervisord.
"""

import asyncio
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from parley_kit.testing.servers import free_port
from parley_kit.testing.stack import StackUrls, repo_root

ROOT = repo_root()
STACK_SCRIPT = ROOT / "deploy" / "local" / "stack.py"
ENGINES = ("kafka", "opensearch", "redis", "ferretdb")
UP_TIMEOUT = 600.0


def load_stack_module() -> ModuleType:
    """`deploy/local/stack.py` as a module (its probes and supervisorctl wrapper)."""
    spec = importlib.util.spec_from_file_location("parley_local_stack", STACK_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class FaultStack:
    """The engines of one fault-test session, on free ports under `home`."""

    home: Path
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Probing a stopped Kafka makes aiokafka log an error per attempt; the probe says it.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        names = ("KAFKA", "KAFKA_CONTROLLER", "ES", "ES_TRANSPORT", "MONGO", "REDIS")
        if not self.ports:
            self.ports = dict(zip(names, distinct_free_ports(len(names)), strict=True))
        self._stack = load_stack_module()
        self.config = self._stack.StackConfig(
            home=self.home,
            kafka_port=self.ports["KAFKA"],
            kafka_controller_port=self.ports["KAFKA_CONTROLLER"],
            search_port=self.ports["ES"],
            search_transport_port=self.ports["ES_TRANSPORT"],
            mongo_port=self.ports["MONGO"],
            redis_port=self.ports["REDIS"],
            kafka_heap="384m",
            search_heap="512m",
            timeout=UP_TIMEOUT,
        )

    @property
    def urls(self) -> StackUrls:
        return StackUrls(
            mongo_url=f"mongodb://127.0.0.1:{self.ports['MONGO']}",
            kafka_bootstrap=f"127.0.0.1:{self.ports['KAFKA']}",
            elasticsearch_url=f"http://127.0.0.1:{self.ports['ES']}",
            redis_url=f"redis://127.0.0.1:{self.ports['REDIS']}/0",
        )

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_STACK")}
        env |= {f"PARLEY_STACK_{name}_PORT": str(port) for name, port in self.ports.items()}
        return env | {
            "PARLEY_STACK_DIR": str(self.home),
            "PARLEY_STACK_KAFKA_HEAP": self.config.kafka_heap,
            "PARLEY_STACK_ES_HEAP": self.config.search_heap,
            "PARLEY_STACK_TIMEOUT": str(int(UP_TIMEOUT)),
        }

    def reuse_downloads(self, shared_home: Path) -> None:
        """Link what the shared stack already fetched and built (only complete pieces)."""
        shared = self._stack.StackConfig(home=shared_home)
        pieces = []
        for name in ("kafka", "opensearch"):
            if (shared_home / name / "libs" / ".complete").exists():
                pieces.append(Path(name) / "libs")
        if (shared_home / "opensearch" / "classes" / "Launcher.class").exists():
            pieces.append(Path("opensearch") / "classes")
        if self._stack.ferretdb_current(shared):
            pieces.append(Path("bin"))
        for piece in pieces:
            target = self.home / piece
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(shared_home / piece, target_is_directory=True)

    def up(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            result = subprocess.run(
                [sys.executable, str(STACK_SCRIPT), "up"],
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=UP_TIMEOUT + 60,
            )
        if result.returncode != 0:
            raise RuntimeError(f"the fault stack did not come up; see {log}")

    def down(self, log: Path) -> None:
        with log.open("ab") as out:
            subprocess.run(
                [sys.executable, str(STACK_SCRIPT), "down"],
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=180,
            )

    def stop(self, engine: str) -> None:
        """Stop one engine (SIGTERM, then SIGKILL after supervisord's grace) and wait until
        its port no longer answers."""
        self._control("stop", engine)
        port = self._stack_engine(engine).port(self.config)
        deadline = time.monotonic() + 60
        while self._stack.port_taken(port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{engine} still listens after a stop")
            time.sleep(0.1)

    def start(self, engine: str) -> None:
        self._control("start", engine)

    def _control(self, action: str, engine: str) -> None:
        result = self._stack.supervisorctl(self.config, action, engine)
        if result.returncode != 0 and "ALREADY" not in result.stdout:
            raise RuntimeError(f"supervisorctl {action} {engine}: {result.stdout}{result.stderr}")

    def _stack_engine(self, engine: str) -> Any:
        return next(e for e in self._stack.ENGINES if e.name == engine)

    async def answers(self, engine: str) -> bool:
        """Whether the engine answers a real protocol request (the stack's own probe)."""
        version = await self._stack.probe(self._stack_engine(engine), self.config)
        return version is not None

    async def wait_answering(self, engine: str, timeout: float) -> float:
        """Poll until the engine answers; when the first successful probe began (monotonic):
        the engine was back no later than that, so a recovery measured from it is not
        flattered by a slow probe."""
        deadline = time.monotonic() + timeout
        while True:
            began = time.monotonic()
            if await self.answers(engine):
                return began
            if time.monotonic() > deadline:
                raise TimeoutError(f"{engine} did not answer within {timeout:.0f} s")
            await asyncio.sleep(0.2)

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
