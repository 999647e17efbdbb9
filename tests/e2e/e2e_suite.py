"""The four services as real processes (`python -m parley_<name>`), configured only through
their environment, with names isolated for this test session. Tests drive them through the
gateway; a test may kill a process and start it again."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from parley_kit.testing.servers import free_port
from parley_kit.testing.stack import Isolation, StackUrls, search_engine

SERVICES = ("auth", "messaging", "search", "gateway")
SECRET = "e2e-internal-secret"
READY_TIMEOUT = 120.0


@dataclass
class ProcessSuite:
    urls: StackUrls
    names: Isolation
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    ops_ports: dict[str, int] = field(default_factory=dict)  # /readyz and /metrics
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = {service: free_port() for service in SERVICES}
        self.ops_ports = {service: free_port() for service in SERVICES}
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def ops_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ops_ports[service]}"

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    def log(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def environment(self, service: str) -> dict[str, str]:
        """What ops would set: every value through `PARLEY_<SERVICE>_*` variables."""
        values = {
            "PORT": str(self.ports[service]),
            "OPS_PORT": str(self.ops_ports[service]),
            "HOST": "127.0.0.1",
            "MONGO_URL": self.urls.mongo_url,
            "MONGO_DB": f"{self.names.mongo_db}_{service}",
            "REDIS_URL": self.urls.redis_url,
            "REDIS_PREFIX": self.names.redis_prefix,
            "KAFKA_BOOTSTRAP": self.urls.kafka_bootstrap,
            "TOPIC_PREFIX": self.names.topic_prefix,
            "KAFKA_PARTITIONS": "3",
            "JWKS_URL": f"{self.url('auth')}/.well-known/jwks.json",
            "INTERNAL_SECRET": SECRET,
            "LOG_JSON": "true",
        }
        if service == "auth":
            # Every e2e user signs up and logs in from 127.0.0.1: the per-IP account and
            # hashing bounds stay on but out of the way (tests of the bounds set their own).
            values |= {"SIGNUPS_PER_IP": "100000", "PASSWORD_HASHES_PER_IP": "32"}
        if service == "messaging":
            values |= {"AUTH_URL": self.url("auth"), "OUTBOX_POLL_SECONDS": "0.1"}
        if service == "search":
            values |= {
                "ENGINE": search_engine(self.urls.elasticsearch_url),
                "ELASTICSEARCH_URL": self.urls.elasticsearch_url,
                "INDEX_PREFIX": self.names.index_prefix,
                "CONSUMER_GROUP": f"{self.names.name}-search",
                "MESSAGING_URL": self.url("messaging"),
                "AUTH_URL": self.url("auth"),
                "MEMBERSHIP_CACHE_SECONDS": "0",
                "FLUSH_INTERVAL_MS": "50",
            }
        if service == "gateway":
            values |= {
                "AUTH_URL": self.url("auth"),
                "MESSAGING_URL": self.url("messaging"),
                "SEARCH_URL": self.url("search"),
                # The e2e suite drives many users from one address; the per-IP bound of
                # anonymous calls (signups, logins) stays on but out of the way.
                "IP_BURST": "2000",
            }
        prefix = f"PARLEY_{service.upper()}_"
        return {f"{prefix}{key}": value for key, value in values.items()}

    @staticmethod
    def service_of(name: str) -> str:
        """The service a process runs (a suite with replicas names them apart)."""
        return name

    def start(self, service: str) -> None:
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
            | self.environment(service)
            | {"PYTHONUNBUFFERED": "1"}
        )
        with self.log(service).open("ab") as log:
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", f"parley_{self.service_of(service)}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, service: str) -> None:
        """SIGKILL: no graceful shutdown, as when a machine dies."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def wait_ready(self, *services: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for service in services or SERVICES:
            while True:
                process = self.processes[service]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with {process.returncode}; see {self.log(service)}"
                    )
                try:
                    if httpx.get(f"{self.ops_url(service)}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service} not ready; see {self.log(service)}")
                time.sleep(0.2)

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)
        self.wait_ready()
