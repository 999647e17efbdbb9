"""`python -m parley_auth` serves auth; `python -m parley_auth rotate-key` rotates the key."""

import asyncio
import sys

from parley_auth.keys import SigningKeys
from parley_auth.models import AUTH_MODELS
from parley_auth.settings import AuthSettings
from parley_kit.app import serve
from parley_kit.mongo import connect_mongo


async def rotate_key(settings: AuthSettings) -> str:
    mongo = await connect_mongo(settings.mongo_url, settings.mongo_db, AUTH_MODELS)
    try:
        keys = SigningKeys(settings.access_token_seconds)
        await keys.load(None)
        return await keys.rotate()
    finally:
        await mongo.close()


def main(argv: list[str]) -> int:
    settings = AuthSettings()
    if argv[1:] == ["rotate-key"]:
        kid = asyncio.run(rotate_key(settings))
        print(f"new signing key {kid}; auth replicas pick it up on restart")
        return 0
    if argv[1:]:
        print("usage: python -m parley_auth [rotate-key]", file=sys.stderr)
        return 2
    serve("parley_auth.main:create_app", settings, factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
