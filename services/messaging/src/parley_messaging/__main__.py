"""`python -m parley_messaging` serves messaging; `migrate [--check]` applies (or lists) the
store migrations; `backup dump|restore <folder>` and `backup flush-redis` are the backup and
restore steps (docs/operations.md)."""

import asyncio
import sys

from parley_kit import backup, migrations
from parley_kit.app import serve
from parley_messaging.migrations import MIGRATIONS
from parley_messaging.settings import MessagingSettings

USAGE = (
    "usage: python -m parley_messaging [migrate [--check] | backup dump|restore <folder>"
    " | backup flush-redis]"
)


def main(argv: list[str]) -> int:
    if argv[1:2] == ["migrate"]:
        return asyncio.run(migrations.mongo_cli(MIGRATIONS, MessagingSettings(), argv[2:]))
    if argv[1:2] == ["backup"]:
        return asyncio.run(backup.cli("messaging", MessagingSettings(), argv[2:]))
    if argv[1:]:
        print(USAGE, file=sys.stderr)
        return 2
    serve("parley_messaging.main:create_app", MessagingSettings(), factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
