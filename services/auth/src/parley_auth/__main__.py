"""`python -m parley_auth` serves auth; `python -m parley_auth keys <step>` rotates the signing
key (the same as `python -m parley_auth.rotation <step>`); `migrate [--check]` applies (or
lists) the store migrations; `backup dump|restore <folder>` and `backup flush-redis` are the
backup and restore steps (docs/operations.md)."""

import asyncio
import sys

from parley_auth import rotation
from parley_auth.migrations import MIGRATIONS
from parley_auth.settings import AuthSettings
from parley_kit import backup, migrations
from parley_kit.app import serve

USAGE = (
    "usage: python -m parley_auth [keys status|stage|promote|retire | migrate [--check]"
    " | backup dump|restore <folder> | backup flush-redis]"
)


def main(argv: list[str]) -> int:
    if argv[1:2] == ["keys"]:
        return rotation.main(argv[2:])
    if argv[1:2] == ["migrate"]:
        return asyncio.run(migrations.mongo_cli(MIGRATIONS, AuthSettings(), argv[2:]))
    if argv[1:2] == ["backup"]:
        return asyncio.run(backup.cli("auth", AuthSettings(), argv[2:]))
    if argv[1:]:
        print(USAGE, file=sys.stderr)
        return 2
    serve("parley_auth.main:create_app", AuthSettings(), factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
