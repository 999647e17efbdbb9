"""How the store and cache clients behave while their engine is down and once it is back: a
store call fails promptly (the caller answers 503) instead of waiting out the request's
deadline, and the first call after a restart works. The engine "goes down" behind a TCP
proxy, so the shared engines keep running."""

import re
from typing import Any

import pymongo
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from parley_kit.cache import connect_redis
from parley_kit.mongo import StoreClient
from parley_kit.testing.proxy import TcpProxy
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


def host_port(url: str) -> tuple[str, int]:
    address = url.split("://", 1)[1].split("/", 1)[0]
    host, port = address.rsplit(":", 1)
    return host, int(port)


async def test_an_unreachable_store_fails_a_call_after_the_selection_timeout_not_the_deadline(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    proxy = TcpProxy(*host_port(stack_urls.mongo_url))
    await proxy.start()
    client = StoreClient(f"mongodb://{proxy.address}", serverSelectionTimeoutMS=1500)
    things = client[isolation.mongo_db]["things"]
    try:
        await things.find_one({"_id": "warm"})
        await proxy.cut()
        with pymongo.timeout(0.5):  # the call on the dropped connection marks the server down
            try:
                await things.find_one({"_id": "first"})
            except pymongo.errors.PyMongoError:
                pass
        # A request's deadline far away: the wait for a server is still the selection timeout.
        with (
            pymongo.timeout(60),
            pytest.raises(ServerSelectionTimeoutError) as refused,
        ):
            await things.find_one({"_id": "during"})
        await proxy.restore()
        with pymongo.timeout(10):
            after: Any = await things.find_one({"_id": "after"})
    finally:
        await client.close()
        await proxy.cut()
    waited = re.search(r"Timeout: ([0-9.]+)s", str(refused.value))
    assert waited is not None, str(refused.value)
    assert float(waited.group(1)) <= 1.5
    assert after is None  # answered (nothing stored under that id)


async def test_the_first_cache_call_after_a_restart_succeeds(stack_urls: StackUrls) -> None:
    proxy = TcpProxy(*host_port(stack_urls.redis_url))
    await proxy.start()
    redis = connect_redis(f"redis://{proxy.address}/0")
    try:
        assert await redis.ping()
        await proxy.cut()  # the pooled connection dies with the "old process"
        await proxy.restore()
        assert await redis.ping()  # not a ConnectionError (a 503 for some request)
    finally:
        await redis.aclose()
        await proxy.cut()
