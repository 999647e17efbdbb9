"""Redis connections. Redis is a cache and a rate-limit store: callers treat its failures as
misses (and count them) rather than failing the request."""

from prometheus_client import Counter
from redis.asyncio import Redis

REDIS_FAILURES = Counter(
    "parley_redis_failures_total",
    "Redis calls that failed and were served without Redis",
    ["service", "operation"],
)


def connect_redis(url: str, *, timeout: float = 0.5) -> "Redis":
    """A client that fails fast, so a down Redis costs a request milliseconds, not seconds."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        health_check_interval=30,
        decode_responses=False,
    )
    return client
