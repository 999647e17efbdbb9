"""Redis connections. Redis is a cache and a rate-limit store: callers treat its failures as
misses (and count them) rather than failing the request."""

from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

REDIS_FAILURES = Counter(
    "parley_redis_failures_total",
    "Redis calls that failed and were served without Redis",
    ["service", "operation"],
)


def fail_fast_retry() -> Retry:
    """One immediate retry on a fresh connection, on a connection error only.

    A client made by `from_url` retries nothing: after a Redis restart every pooled
    connection (still to the old process) failed its next command, so each cost a request a
    503 after Redis was back. One retry reconnects. While Redis is down the retry fails at
    once too (connection refused), so a call still costs milliseconds. A timeout is not
    retried: the command (a script that writes, say) may have run."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def redis_tls_options(ca_file: str | None) -> dict[str, Any]:
    """redis-py options of a CA file (a `rediss://` URL: credentials and TLS come with it)."""
    return {"ssl_ca_certs": ca_file, "ssl_cert_reqs": "required"} if ca_file else {}


def connect_redis(url: str, *, timeout: float = 0.5, ca_file: str | None = None) -> "Redis":
    """A client that fails fast, so a down Redis costs a request milliseconds, not seconds."""
    client: Redis = Redis.from_url(
        url,
        **redis_tls_options(ca_file),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=fail_fast_retry(),
        health_check_interval=30,
        decode_responses=False,
    )
    return client
