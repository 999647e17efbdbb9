"""Backup and restore of a service's MongoDB database, and the Redis reset that follows.

    python -m parley_<service> backup dump <folder>      # <folder>/<service>/*.bson.gz
    python -m parley_<service> backup restore <folder>   # into the configured, empty database
    python -m parley_<service> backup flush-redis        # every key under the Redis prefix

Each reads the service's own settings (`PARLEY_<SERVICE>_MONGO_URL`, `_MONGO_DB`, `_MONGO_CA_FILE`,
`_REDIS_URL`, `_REDIS_PREFIX`, ...), so it runs in a service's pod or container as the service
would connect.

Why not mongodump: the official MongoDB database tools are not served by any package registry
this project builds from (the Go module proxy refuses `github.com/mongodb/mongo-tools`, and
Debian no longer packages them). The files follow mongodump's `--gzip` directory layout (one
gzipped file of concatenated BSON documents and one `<collection>.metadata.json` with the
indexes per collection, in a folder named after the service), so where the official tools
exist, `mongorestore --gzip --nsFrom '<service>.*' --nsTo '<database>.*'` reads a dump made
here. Documents are copied byte for byte (raw BSON), never decoded into Python values.

The dump reads one collection after another (no snapshot across collections): take it with
the service's writers stopped for an exact copy, or from your operator's snapshot. A restore
refuses a database that already holds documents, and recreates the indexes; the `_migrations`
ledger comes with the data, so `migrate` afterwards applies only steps newer than the backup.
"""

import gzip
import re
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

from bson import decode_file_iter, json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from parley_kit.cache import connect_redis
from parley_kit.migrations import LOCK as MIGRATIONS_LOCK
from parley_kit.mongo import store_client
from parley_kit.settings import ServiceSettings

RAW = CodecOptions(document_class=RawBSONDocument)
BATCH = 1000
# Index options copied from the metadata; the rest (`v`, `ns`, `key`) describe the index itself.
INDEX_OPTIONS = {"name", "unique", "sparse", "expireAfterSeconds", "partialFilterExpression"}


# The command-line steps work on local files between store calls; reading a folder listing or
# a metadata file blocks for microseconds, which no server loop shares with them.
def empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob("*.bson.gz")):
        raise FileExistsError(f"{folder} already holds a dump")


def dumped_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.bson.gz"))
    if not files:
        raise FileNotFoundError(f"no dump in {folder}")
    return files


def read_metadata(file: Path) -> dict[str, Any] | None:
    if not file.exists():
        return None
    metadata: dict[str, Any] = json_util.loads(file.read_text())
    return metadata


async def raw_documents(database: AsyncDatabase[Any], name: str) -> AsyncIterator[bytes]:
    collection = database.get_collection(name, codec_options=RAW)
    async for document in collection.find({}, batch_size=BATCH):
        yield document.raw


async def dump(database: AsyncDatabase[Any], folder: Path) -> dict[str, int]:
    """Write every collection of `database` into `folder` (created; must not hold a dump);
    the number of documents per collection."""
    empty_folder(folder)
    counts: dict[str, int] = {}
    for name in sorted(await database.list_collection_names()):
        if name.startswith("system.") or name == MIGRATIONS_LOCK:
            continue  # engine internals; a migration run's lock is no data
        count = 0
        partial = folder / f"{name}.bson.gz.partial"
        with gzip.open(partial, "wb") as out:
            async for raw in raw_documents(database, name):
                out.write(raw)
                count += 1
        indexes = [dict(index) async for index in await database[name].list_indexes()]
        metadata = {"collectionName": name, "indexes": indexes}
        (folder / f"{name}.metadata.json").write_text(json_util.dumps(metadata))
        partial.rename(folder / f"{name}.bson.gz")  # a dump cut short lacks the file
        counts[name] = count
    return counts


async def restore(database: AsyncDatabase[Any], folder: Path) -> dict[str, int]:
    """Insert every dumped collection into `database`, which must hold no document of them,
    then recreate their indexes; the number of documents per collection."""
    files = dumped_files(folder)
    names = [file.name.removesuffix(".bson.gz") for file in files]
    for name in names:
        if await database[name].find_one({}, projection={"_id": 1}) is not None:
            raise FileExistsError(
                f"{database.name}.{name} holds documents: restore into an empty database"
            )
    counts: dict[str, int] = {}
    for name, file in zip(names, files, strict=True):
        collection = database.get_collection(name, codec_options=RAW)
        batch: list[RawBSONDocument] = []
        count = 0
        with gzip.GzipFile(file, "rb") as source:
            for document in decode_file_iter(cast(BinaryIO, source), RAW):
                batch.append(document)
                if len(batch) == BATCH:
                    await collection.insert_many(batch)
                    count, batch = count + len(batch), []
        if batch:
            await collection.insert_many(batch)
            count += len(batch)
        counts[name] = count
        await restore_indexes(database, folder / f"{name}.metadata.json")
    return counts


async def restore_indexes(database: AsyncDatabase[Any], metadata_file: Path) -> None:
    metadata = read_metadata(metadata_file)
    if metadata is None:
        return
    collection = database[metadata["collectionName"]]
    for index in metadata.get("indexes", []):
        if index.get("name") == "_id_":
            continue
        options = {key: value for key, value in index.items() if key in INDEX_OPTIONS}
        # One index per call: FerretDB 1.x drops the connection on a multi-index call.
        await collection.create_indexes([IndexModel(list(index["key"].items()), **options)])


def key_pattern(prefix: str) -> str:
    """A SCAN pattern matching the keys that start with `prefix` (glob characters escaped)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"


async def flush_redis(redis: Redis, prefix: str) -> int:
    """Delete every key under `prefix`; the number deleted. An empty prefix is refused: the
    deployment would not own the whole database (use FLUSHDB yourself if it does)."""
    if not prefix:
        raise ValueError("no Redis prefix is configured: flush the database with FLUSHDB")
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=key_pattern(prefix), count=1000):
        batch.append(key)
        if len(batch) == BATCH:
            deleted += int(await redis.delete(*batch))
            batch = []
    if batch:
        deleted += int(await redis.delete(*batch))
    return deleted


USAGE = "usage: python -m parley_{service} backup dump <folder> | restore <folder> | flush-redis"


async def cli(service: str, settings: ServiceSettings, argv: Sequence[str]) -> int:
    """The `backup` command of a service (see the module's docstring)."""
    match list(argv):
        case ["dump" | "restore" as step, folder]:
            client = store_client(settings.mongo_url, settings.mongo_ca_file)
            where = Path(folder) / service
            try:
                step_of = dump if step == "dump" else restore
                counts = await step_of(client[settings.mongo_db], where)
            except (FileExistsError, FileNotFoundError) as refused:
                print(f"{service}: {step} refused: {refused}", file=sys.stderr)
                return 1
            finally:
                await client.close()
            for name, count in counts.items():
                print(f"{step}  {settings.mongo_db}.{name}  {count} documents")
            print(f"{service}: {step} of {sum(counts.values())} documents ({where})")
            return 0
        case ["flush-redis"]:
            redis = connect_redis(settings.redis_url, timeout=5.0, ca_file=settings.redis_ca_file)
            try:
                deleted = await flush_redis(redis, settings.redis_prefix)
            finally:
                await redis.aclose()
            print(f"{service}: deleted {deleted} Redis keys under {settings.redis_prefix!r}")
            return 0
        case _:
            print(USAGE.format(service=service))
            return 2
