"""The backup commands' parts on the real engines: a dump restored into another database
holds the same documents byte for byte and the same indexes; a restore over data is refused;
the Redis flush deletes exactly the keys under the prefix, glob characters included."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, IndexModel
from redis.asyncio import Redis

from parley_kit.backup import dump, flush_redis, key_pattern, restore
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration
RAW = CodecOptions(document_class=RawBSONDocument)


@pytest.fixture
async def mongo(
    stack_urls: StackUrls, isolation: Isolation
) -> AsyncIterator[AsyncMongoClient[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack_urls.mongo_url, tz_aware=True)
    try:
        yield client
    finally:
        for name in (isolation.mongo_db, f"{isolation.mongo_db}_copy"):
            await client.drop_database(name)
        await client.close()


async def raw_by_id(client: AsyncMongoClient[Any], database: str, name: str) -> dict[Any, bytes]:
    collection = client[database].get_collection(name, codec_options=RAW)
    return {document["_id"]: document.raw async for document in collection.find({})}


async def test_a_restored_dump_holds_the_same_documents_and_indexes(
    mongo: AsyncMongoClient[Any], isolation: Isolation, tmp_path: Path
) -> None:
    source, target = mongo[isolation.mongo_db], mongo[f"{isolation.mongo_db}_copy"]
    when = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    documents = [
        {"_id": f"c1-{seq}", "seq": seq, "at": when, "tags": ["a", "b"], "nested": {"n": seq}}
        for seq in range(1, 2501)  # more than one insert batch
    ]
    await source["messages"].insert_many(documents)
    await source["messages"].create_indexes([IndexModel([("seq", 1)], unique=True)])
    await source["members"].insert_one({"_id": "c1:u1", "role": "admin"})

    counts = await dump(source, tmp_path / "dump")
    restored = await restore(target, tmp_path / "dump")
    with pytest.raises(FileExistsError):
        await restore(target, tmp_path / "dump")  # into a database that holds documents
    with pytest.raises(FileExistsError):
        await dump(source, tmp_path / "dump")  # over an earlier dump

    assert counts == restored == {"members": 1, "messages": 2500}
    for name in ("messages", "members"):
        assert await raw_by_id(mongo, target.name, name) == await raw_by_id(
            mongo, source.name, name
        )
    indexes = {i["name"]: i async for i in await target["messages"].list_indexes()}
    assert indexes["seq_1"]["unique"] is True


async def test_flush_deletes_the_keys_under_the_prefix_only(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    redis = Redis.from_url(stack_urls.redis_url)
    prefix = f"{isolation.redis_prefix}[a]*:"  # glob characters are literal
    others = [f"{isolation.redis_prefix}a-other", f"{isolation.redis_prefix}[a]x"]
    try:
        for index in range(1500):
            await redis.set(f"{prefix}k{index}", b"1")
        for key in others:
            await redis.set(key, b"1")
        deleted = await flush_redis(redis, prefix)
        left = [key async for key in redis.scan_iter(match=f"{isolation.redis_prefix}*")]
        with pytest.raises(ValueError, match="FLUSHDB"):
            await flush_redis(redis, "")
    finally:
        await redis.aclose()

    assert deleted == 1500
    assert sorted(k.decode() for k in left) == sorted(others)


def test_the_scan_pattern_escapes_glob_characters() -> None:
    assert key_pattern("t1:") == "t1:*"
    assert key_pattern("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\*"
