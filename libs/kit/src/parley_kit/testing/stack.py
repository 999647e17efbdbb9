"""Where the engines of a test run are, and the names that keep each test's data apart.

Resolution order: `PARLEY_STACK=external` takes URLs from `PARLEY_TEST_*` variables; otherwise
a Docker engine that answers gets testcontainers; otherwise the local stack (`deploy/local`) is
started (idempotent) and used.
"""

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley_kit.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class StackUrls:
    mongo_url: str
    kafka_bootstrap: str
    elasticsearch_url: str
    redis_url: str


@dataclass(frozen=True)
class Isolation:
    """Names only one test uses: its database, topic prefix, index prefix and key prefix."""

    name: str
    mongo_db: str
    topic_prefix: str
    index_prefix: str
    redis_prefix: str

    @classmethod
    def new(cls) -> "Isolation":
        name = f"t{uuid.uuid4().hex[:10]}"
        return cls(
            name=name,
            mongo_db=f"test_{name}",
            topic_prefix=f"{name}.",
            index_prefix=f"{name}-",
            redis_prefix=f"{name}:",
        )


def external_urls() -> StackUrls:
    return StackUrls(
        mongo_url=os.environ.get("PARLEY_TEST_MONGO_URL", "mongodb://127.0.0.1:27017"),
        kafka_bootstrap=os.environ.get("PARLEY_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        elasticsearch_url=os.environ.get("PARLEY_TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
        redis_url=os.environ.get("PARLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )


def local_urls() -> StackUrls:
    def port(name: str, default: int) -> int:
        return int(os.environ.get(f"PARLEY_STACK_{name}_PORT", str(default)))

    return StackUrls(
        mongo_url=f"mongodb://127.0.0.1:{port('MONGO', 27017)}",
        kafka_bootstrap=f"127.0.0.1:{port('KAFKA', 9092)}",
        elasticsearch_url=f"http://127.0.0.1:{port('ES', 9200)}",
        redis_url=f"redis://127.0.0.1:{port('REDIS', 6379)}/0",
    )


def docker_answers(timeout: float = 0.5) -> bool:
    """A Docker engine is usable: its socket accepts a connection and answers `_ping`."""
    path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not path.startswith("unix://"):
        return False
    sock_path = path.removeprefix("unix://")
    if not Path(sock_path).exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(sock_path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"200 OK" in sock.recv(64)
    except OSError:
        return False


def repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "deploy" / "local" / "stack.py").exists():
            return parent
    raise RuntimeError("cannot find deploy/local/stack.py above the kit package")


def start_local_stack() -> StackUrls:
    script = repo_root() / "deploy" / "local" / "stack.py"
    result = subprocess.run([sys.executable, str(script), "up"], check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError("the local stack did not come up; see the messages above")
    return local_urls()


@contextmanager
def testcontainer_urls() -> Iterator[StackUrls]:
    """The four engines in containers, for machines with a Docker engine."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer
    from testcontainers.redis import RedisContainer

    with ExitStack() as stack:
        mongo: Any = stack.enter_context(MongoDbContainer("mongo:7"))
        kafka: Any = stack.enter_context(KafkaContainer("apache/kafka:3.9.0").with_kraft())
        redis: Any = stack.enter_context(RedisContainer("redis:7"))
        search: Any = stack.enter_context(
            DockerContainer("opensearchproject/opensearch:2.19.1")
            .with_env("discovery.type", "single-node")
            .with_env("DISABLE_SECURITY_PLUGIN", "true")
            .with_env("OPENSEARCH_JAVA_OPTS", "-Xms512m -Xmx512m")
            .with_exposed_ports(9200)
        )
        wait_for_logs(search, "started", timeout=180)
        yield StackUrls(
            mongo_url=mongo.get_connection_url(),
            kafka_bootstrap=kafka.get_bootstrap_server(),
            elasticsearch_url=f"http://{search.get_container_host_ip()}:{search.get_exposed_port(9200)}",
            redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
        )


@contextmanager
def resolve_stack() -> Iterator[StackUrls]:
    mode = os.environ.get("PARLEY_STACK", "auto")
    if mode == "external":
        yield external_urls()
    elif mode == "docker" or (mode == "auto" and docker_answers()):
        with testcontainer_urls() as urls:
            yield urls
    else:
        yield start_local_stack()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (for sync checks in tests)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
