"""Socket.IO room names. The tenant is part of every name, so a conversation id guessed from
another tenant never names a room its owner's sockets are in."""


def conversation_room(tenant_id: str, conversation_id: str) -> str:
    return f"t:{tenant_id}:c:{conversation_id}"


def user_room(tenant_id: str, user_id: str) -> str:
    return f"t:{tenant_id}:u:{user_id}"


def is_conversation_room(room: str) -> bool:
    return ":c:" in room
