"""Redis over TLS with credentials in the URL and the CA from `REDIS_CA_FILE`, as a service
connects (`connect_redis`), against a redis-server of the test's own with a TLS port (the
shared one has none and keeps running); and MongoDB's CA file turning TLS on."""

import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo.errors import ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError

from parley_kit.cache import connect_redis
from parley_kit.mongo import connect_mongo, mongo_tls_options, ping
from parley_kit.testing.certificates import issued, self_signed
from parley_kit.testing.servers import free_port
from parley_kit.testing.stack import StackUrls, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "redis-tls-secret"


@dataclass(frozen=True)
class TlsRedis:
    port: int
    ca_file: str


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on this host (the local stack's Redis comes from it)")
    home = tmp_path_factory.mktemp("tls-redis")
    ca = self_signed(home, "parley-test-ca")
    certificate, key = issued(home, "redis", ca)
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port", "0",
            "--tls-port", str(port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", str(certificate),
            "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(ca[0]),
            "--tls-auth-clients", "no",
            "--requirepass", PASSWORD,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(home),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(lambda: listening(port) or server.poll() is not None, timeout=20)
        assert server.poll() is None, "redis-server with TLS did not start"
        yield TlsRedis(port, str(ca[0]))
    finally:
        server.terminate()
        server.wait(10)


async def test_a_service_reaches_redis_over_tls_with_the_url_credentials(
    tls_redis: TlsRedis,
) -> None:
    redis = connect_redis(
        f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0", ca_file=tls_redis.ca_file
    )
    try:
        assert await redis.ping()
        await redis.set("parley:tls", b"yes")
        assert await redis.get("parley:tls") == b"yes"
    finally:
        await redis.aclose()


async def test_an_unknown_ca_is_refused(tls_redis: TlsRedis) -> None:
    redis = connect_redis(f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0", timeout=2.0)
    try:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await redis.ping()
    finally:
        await redis.aclose()


async def test_a_mongodb_ca_file_turns_tls_on(stack_urls: StackUrls, tmp_path: Path) -> None:
    """The option reaches the driver: the local document store speaks plaintext only, so the
    same URL that connects without a CA file fails with one (the client insists on TLS)."""
    assert mongo_tls_options(None) == {}
    ca, _ = self_signed(tmp_path, "mongo-ca")
    plain = await connect_mongo(stack_urls.mongo_url, "unused", [], selection_timeout_ms=10000)
    try:
        await ping(plain)
    finally:
        await plain.close()
    with pytest.raises(ServerSelectionTimeoutError):
        await connect_mongo(
            stack_urls.mongo_url, "unused", [], tls_ca_file=str(ca), selection_timeout_ms=1000
        )
