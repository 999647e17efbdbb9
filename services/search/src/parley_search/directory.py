"""Usernames to user ids, asked of auth's internal route (for `from:` and `mentions:`)."""

import httpx

from parley_kit.internal import AuthUsers, InternalApi


class UserDirectory:
    def __init__(self, http: httpx.AsyncClient, auth_url: str, secret: str) -> None:
        self._users = AuthUsers(InternalApi(http, auth_url, secret, timeout=3.0))

    async def ids_of(self, tenant_id: str, usernames: list[str]) -> list[str]:
        """The ids of those of `usernames` that are users of the tenant. An unknown name is
        simply absent: the operator then matches nothing, and nobody learns who exists."""
        # `from:@ann` as people type it after a mention.
        wanted = sorted({n.strip().lstrip("@").lower() for n in usernames} - {""})
        if not wanted:
            return []
        users = await self._users.by_usernames(
            tenant_id, wanted, unavailable="cannot look up usernames right now"
        )
        return sorted({user.id for user in users})
