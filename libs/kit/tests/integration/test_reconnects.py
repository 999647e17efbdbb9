"""How the store and cache clients behave while their engine is down and once it is back: a
store call fails promptly (the caller answers 503) instead of waiting out the request's
deadline, and the first call after a restart works. The engine "goes down" behind a TCP
proxy, so the shared engines keep running."""

import asyncio
import re
from typing import Any

import pymongo
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from parley_kit.cache import connect_redis
from parley_kit.group_commit import GroupCommit
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


async def test_inserts_queued_behind_a_batch_that_found_no_store_fail_with_it(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    proxy = TcpProxy(*host_port(stack_urls.mongo_url))
    await proxy.start()
    client = StoreClient(f"mongodb://{proxy.address}", serverSelectionTimeoutMS=1500)
    commit = GroupCommit(client[isolation.mongo_db]["things"])
    try:
        await commit.insert({"_id": "warm"})
        await proxy.cut()
        with pymongo.timeout(0.5):  # the call on the dropped connection marks the server down
            try:
                await client[isolation.mongo_db]["things"].find_one({})
            except pymongo.errors.PyMongoError:
                pass
        first = asyncio.create_task(commit.insert({"_id": "first"}))
        await asyncio.sleep(0.2)  # the first batch is now waiting for a server
        queued = [asyncio.create_task(commit.insert({"_id": f"queued-{i}"})) for i in range(5)]
        outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
    finally:
        await client.close()
        await proxy.cut()
    assert all(isinstance(outcome, ServerSelectionTimeoutError) for outcome in outcomes)
    # The same error: the queued inserts did not wait for a server once more on their own.
    assert all(outcome is outcomes[0] for outcome in outcomes)


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
