"""Messaging's store setup as versioned steps (see `parley_kit.migrations`): append a step for
a new index, never edit an applied one."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from parley_kit.migrations import Migration, Migrations, create_index

MIGRATIONS: Migrations[AsyncDatabase[Any]] = Migrations(
    "messaging",
    [
        Migration(
            "0001-members-by-user", create_index("members", [("tenant_id", 1), ("user_id", 1)])
        ),
        Migration(
            "0002-members-by-conversation",
            create_index("members", [("tenant_id", 1), ("conversation_id", 1)]),
        ),
        # Idempotent sends: one message per sender and client message id.
        Migration(
            "0003-messages-unique-client-msg-id",
            create_index(
                "messages",
                [("tenant_id", 1), ("conversation_id", 1), ("sender_id", 1), ("client_msg_id", 1)],
                unique=True,
            ),
        ),
        Migration(
            "0004-messages-by-thread",
            create_index(
                "messages",
                [("tenant_id", 1), ("conversation_id", 1), ("parent_id", 1), ("seq", 1)],
            ),
        ),
        Migration(
            "0005-reactions-by-conversation",
            create_index("reactions", [("tenant_id", 1), ("conversation_id", 1)]),
        ),
    ],
)
