"""Rotate the access-token signing key: `python -m parley_auth.rotation <step> [--force]`.

Steps (docs/operations.md, "Key rotation"), each safe to repeat:

- `status`: every key with its state and when its next step is allowed.
- `stage`: create the next key and publish it (the staged key if one exists).
- `promote`: sign with the staged key from now on, once it has been published for
  `PARLEY_AUTH_KEY_PUBLISH_SECONDS`; the key it replaces starts retiring.
- `retire`: withdraw the retiring keys from the JWKS once every token they signed has expired.

`--force` skips the wait of `promote` or `retire` (a compromised key). Exit status: 0 done,
1 refused (the message says why and from when it is allowed), 2 usage.
Every running auth replica picks up a change within `PARLEY_AUTH_KEY_POLL_SECONDS`.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

import pymongo

from parley_auth.keys import KeyStatus, KeyStore, RotationRefused, key_store
from parley_auth.models import AUTH_MODELS
from parley_auth.settings import AuthSettings
from parley_kit.cache import connect_redis
from parley_kit.locks import RedisLock
from parley_kit.mongo import connect_mongo

STEPS = ("status", "stage", "promote", "retire")
# Well inside the `signing-keys` lock's lease (10 s): a step never outlives its lock.
STEP_DEADLINE_SECONDS = 8.0


async def run_step(settings: AuthSettings, step: str, *, force: bool = False) -> list[KeyStatus]:
    """Take one step under the `signing-keys` lock; the keys it concerns (all, for status)."""
    mongo = await connect_mongo(
        settings.mongo_url, settings.mongo_db, AUTH_MODELS, tls_ca_file=settings.mongo_ca_file
    )
    redis = connect_redis(settings.redis_url, timeout=2.0, ca_file=settings.redis_ca_file)
    try:
        store = key_store(redis, settings)
        locks = RedisLock(redis, f"{settings.redis_prefix}auth:lock:", service="auth")
        async with locks.held("signing-keys"):
            with pymongo.timeout(STEP_DEADLINE_SECONDS):
                return await _take(store, step, force=force)
    finally:
        await redis.aclose()
        await mongo.close()


async def _take(store: KeyStore, step: str, *, force: bool) -> list[KeyStatus]:
    if step == "stage":
        await store.ensure_current()
        return [await store.stage()]
    if step == "promote":
        return [await store.promote(force=force)]
    if step == "retire":
        return await store.retire(force=force)
    return await store.statuses()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parley_auth.rotation", description="Rotate the token signing key."
    )
    parser.add_argument("step", choices=STEPS)
    parser.add_argument(
        "--force", action="store_true", help="promote or retire without waiting (compromise)"
    )
    arguments = parser.parse_args(argv)
    try:
        keys = asyncio.run(run_step(AuthSettings(), arguments.step, force=arguments.force))
    except RotationRefused as refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        return 1
    for key in keys:
        print(json.dumps(key.describe()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
