"""A typed async client of the Parley public API (HTTP and Socket.IO), through the gateway.

from parley_client import ParleyClient

async with ParleyClient("http://127.0.0.1:8000") as ada:
    await ada.login("acme", "ada", "correct horse battery")
    conversation = await ada.create_conversation("group", [bob_id], title="launch")
    async with ada.socket() as socket:
        await ada.send_message(conversation.id, "shipping today")
        created = await socket.wait_for(lambda e: e.type == "message.created")
    hits = await ada.search("ship")
"""

from parley_client.client import ParleyClient
from parley_client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ParleyError,
    PayloadTooLarge,
    RateLimited,
    SocketRefused,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from parley_client.socket import ParleySocket, SocketEvent

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ParleyClient",
    "ParleyError",
    "ParleySocket",
    "PayloadTooLarge",
    "RateLimited",
    "SocketEvent",
    "SocketRefused",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
]
