"""Calls to another Parley service's internal routes (`/internal/v1/...`, never via the gateway).

`InternalApi` is one service as seen by another: the shared secret on every call, and any
failure to get an answer (refused, timed out, an error status) turned into a 503 with a reason
the caller can show, never a 500. `AuthUsers` is auth's user lookups, which messaging and
search both need.
"""

from typing import Any, Final

import httpx
from pydantic import ValidationError

from parley_contracts.resources import User
from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.logs import get_logger
from parley_kit.problems import ServiceUnavailable

log = get_logger(__name__)

USERS_PER_CALL: Final = 1000  # auth's internal user lookups take at most this many per call


class InternalApi:
    def __init__(
        self, http: httpx.AsyncClient, base_url: str, secret: str, *, timeout: float = 5.0
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {INTERNAL_TOKEN_HEADER: secret}
        self._timeout = timeout

    async def post(self, path: str, body: Any, *, unavailable: str) -> Any:
        """The JSON answer of `POST path`; a 503 saying `unavailable` when there is none."""
        return await self._call("POST", path, unavailable, json=body)

    async def get(
        self, path: str, *, unavailable: str, params: dict[str, str] | None = None
    ) -> Any:
        """The JSON answer of `GET path`; a 503 saying `unavailable` when there is none."""
        return await self._call("GET", path, unavailable, params=params)

    async def _call(self, method: str, path: str, unavailable: str, **request: Any) -> Any:
        try:
            response = await self._http.request(
                method,
                f"{self._base_url}{path}",
                headers=self._headers,
                timeout=self._timeout,
                **request,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(unavailable) from exc
        return response.json()


class AuthUsers:
    """Auth's internal user lookups: only users of the tenant asked about are ever returned."""

    def __init__(self, auth: InternalApi) -> None:
        self._auth = auth

    async def by_ids(self, tenant_id: str, user_ids: list[str], *, unavailable: str) -> list[User]:
        """The users among `user_ids` (unknown ids are simply absent)."""
        return await self._lookup("users:resolve", "user_ids", tenant_id, user_ids, unavailable)

    async def by_usernames(
        self, tenant_id: str, usernames: list[str], *, unavailable: str
    ) -> list[User]:
        """The users named by `usernames`, case-insensitively (unknown names are absent)."""
        return await self._lookup(
            "users:by-username", "usernames", tenant_id, usernames, unavailable
        )

    async def _lookup(
        self, route: str, field: str, tenant_id: str, values: list[str], unavailable: str
    ) -> list[User]:
        wanted = sorted(set(values))
        found: list[User] = []
        for start in range(0, len(wanted), USERS_PER_CALL):
            answer = await self._auth.post(
                f"/internal/v1/{route}",
                {"tenant_id": tenant_id, field: wanted[start : start + USERS_PER_CALL]},
                unavailable=unavailable,
            )
            try:
                found += [User.model_validate(user) for user in answer["users"]]
            except (ValidationError, KeyError, TypeError) as exc:
                # A contract mismatch between versions of two services, not the caller's input.
                log.error("auth answered users in an unexpected shape", route=route, error=str(exc))
                raise ServiceUnavailable(unavailable) from exc
        # Auth scopes its lookups by tenant; checked again so no caller relies on it alone.
        return [user for user in found if user.tenant_id == tenant_id]
