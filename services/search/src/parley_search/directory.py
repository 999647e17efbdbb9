"""Usernames to user ids, asked of auth's internal route (for `from:` and `mentions:`)."""

import httpx

from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.problems import ServiceUnavailable


class UserDirectory:
    def __init__(self, http: httpx.AsyncClient, auth_url: str, secret: str) -> None:
        self._http = http
        self._url = f"{auth_url}/internal/v1/users:by-username"
        self._headers = {INTERNAL_TOKEN_HEADER: secret}

    async def ids_of(self, tenant_id: str, usernames: list[str]) -> list[str]:
        """The ids of those of `usernames` that are users of the tenant. An unknown name is
        simply absent: the operator then matches nothing, and nobody learns who exists."""
        # `from:@ann` as people type it after a mention.
        wanted = sorted({n.strip().lstrip("@").lower() for n in usernames} - {""})
        if not wanted:
            return []
        try:
            response = await self._http.post(
                self._url,
                json={"tenant_id": tenant_id, "usernames": wanted},
                headers=self._headers,
                timeout=3.0,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("cannot look up usernames right now") from exc
        return sorted({str(user["id"]) for user in response.json()["users"]})
