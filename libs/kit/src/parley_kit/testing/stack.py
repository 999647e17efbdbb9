"""Where the engines of a test run are, and the names that keep each test's data apart.

`PARLEY_STACK` picks the engines (default `auto`):
- `external`: URLs from `PARLEY_TEST_MONGO_URL`, `PARLEY_TEST_KAFKA_BOOTSTRAP`,
  `PARLEY_TEST_ELASTICSEARCH_URL`, `PARLEY_TEST_REDIS_URL`;
- `docker`, or `auto` when a Docker engine answers `_ping`: testcontainers (mongo:7,
  apache/kafka:3.9.0, OpenSearch 2.19 like the local stack, redis:7);
- `local`, or `auto` otherwise: the local stack (`deploy/local/stack up`, a no-op when healthy).

Importing this module connects to nothing.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class StackUrls:
    """Where the four engines of this test session answer."""

    mongo_url: str  # "mongodb://127.0.0.1:27017"
    kafka_bootstrap: str  # "127.0.0.1:9092"
    elasticsearch_url: str  # "http://127.0.0.1:9200" (OpenSearch 2 on the local stack)
    redis_url: str  # "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Isolation:
    """Names only one test uses: its database, topic prefix, index prefix and key prefix."""

    name: str  # unique short token per test, e.g. "t3f9a2c1d0"
    mongo_db: str  # f"test_{name}": a fresh database
    topic_prefix: str  # f"{name}.": prefix every Kafka topic name with it
    index_prefix: str  # f"{name}-": prefix every index and alias name with it
    redis_prefix: str  # f"{name}:": prefix every Redis key with it

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
    """A Docker engine is usable: its socket (or `DOCKER_HOST`) answers `GET /_ping` quickly."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
    try:
        if host.startswith("unix://"):
            path = host.removeprefix("unix://")
            if not Path(path).exists():
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(path)
                sock.sendall(request)
                return b" 200 " in sock.recv(64)
        if host.startswith("tcp://"):
            address, _, port = host.removeprefix("tcp://").rstrip("/").rpartition(":")
            with socket.create_connection((address, int(port)), timeout=timeout) as sock:
                sock.settimeout(timeout)
                sock.sendall(request)
                return b" 200 " in sock.recv(64)
    except (OSError, ValueError):
        return False
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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


async def eventually(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05
) -> bool:
    """Await `predicate` until it is true or `timeout` passes (e.g. a search finds a document)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return await predicate()


def search_engine(url: str, timeout: float = 5.0) -> Literal["opensearch", "elasticsearch"]:
    """Which engine serves `url`: tests run OpenSearch 2; production runs Elasticsearch 8."""
    import httpx

    version = httpx.get(url, timeout=timeout).json().get("version", {})
    return "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
