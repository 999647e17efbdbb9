"""Auth's store setup as versioned steps (see `parley_kit.migrations`): append a step for a
new index, never edit an applied one."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from parley_kit.migrations import Migration, Migrations, create_index

MIGRATIONS: Migrations[AsyncDatabase[Any]] = Migrations(
    "auth",
    [
        Migration("0001-tenants-unique-slug", create_index("tenants", [("slug", 1)], unique=True)),
        Migration(
            "0002-users-unique-username",
            create_index("users", [("tenant_id", 1), ("username_key", 1)], unique=True),
        ),
        Migration(
            "0003-users-unique-email",
            create_index("users", [("tenant_id", 1), ("email", 1)], unique=True),
        ),
        Migration(
            "0004-signing-keys-unique-kid",
            create_index("signing_keys", [("kid", 1)], unique=True),
        ),
    ],
)
