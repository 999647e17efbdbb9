"""The Socket.IO fan-out listener after a Redis outage: it hears the channel again soon after
Redis is back, not after python-socketio's doubling pause (1, 2, 4, 8 ... 60 s)."""

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from parley_gateway.realtime.fanout import RedisFanout
from parley_kit.testing.proxy import TcpProxy
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 7.5  # the doubling pause would next try at 15 s: 7.5 s after the restore


async def _published_until_heard(
    redis: Redis, channel: str, heard: list[Any], text: str, timeout: float
) -> None:
    async with asyncio.timeout(timeout):
        while not any(text.encode() in bytes(item) for item in heard):
            await redis.publish(channel, text)
            await asyncio.sleep(0.2)


async def test_the_fanout_listener_hears_the_channel_soon_after_redis_is_back(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    address = stack_urls.redis_url.split("://", 1)[1].split("/", 1)[0]
    host, port = address.rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    channel = f"{isolation.redis_prefix}fanout"
    fanout = RedisFanout(f"redis://{proxy.address}/0", channel=channel)
    heard: list[Any] = []

    async def listen() -> None:
        async for data in fanout._listen():
            heard.append(data)

    listening = asyncio.create_task(listen())
    publisher = Redis.from_url(stack_urls.redis_url)
    try:
        await _published_until_heard(publisher, channel, heard, "before", timeout=10)
        await proxy.cut()  # Redis "stops": the listener's connection drops
        await asyncio.sleep(OUTAGE_SECONDS)
        await proxy.restore()
        # Generous for a loaded machine, and still well before the doubling pause ends.
        await _published_until_heard(publisher, channel, heard, "after", timeout=5)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await publisher.aclose()
        await proxy.cut()
