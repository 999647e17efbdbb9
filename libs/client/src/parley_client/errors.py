"""Errors of the Parley API as exceptions, each carrying the RFC 9457 problem document."""

from typing import Any

import httpx


class ParleyError(Exception):
    """An error answer of the API; `problem` is the parsed problem document."""

    def __init__(
        self, status: int, problem: dict[str, Any], response: httpx.Response | None
    ) -> None:
        self.status = status
        self.problem = problem
        self.response = response
        self.title: str = str(problem.get("title", ""))
        self.detail: str | None = problem.get("detail")
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        super().__init__(f"{status} {self.title}: {self.detail or ''}".strip())


class BadRequest(ParleyError):
    """400"""


class Unauthorized(ParleyError):
    """401: missing, invalid or expired token (or bad credentials)."""


class Forbidden(ParleyError):
    """403: authenticated, but the role does not allow it."""


class NotFound(ParleyError):
    """404: absent, in another tenant, or in a conversation you are not a member of."""


class Conflict(ParleyError):
    """409"""


class PayloadTooLarge(ParleyError):
    """413"""


class ValidationFailed(ParleyError):
    """422: `errors` lists each bad field."""


class RateLimited(ParleyError):
    """429: retry after `retry_after` seconds."""

    @property
    def retry_after(self) -> int:
        value = self.response.headers.get("retry-after") if self.response is not None else None
        return int(value) if value and value.isdigit() else 1


class Unavailable(ParleyError):
    """503/504: a service is down or slow; the call can be retried."""


class SocketRefused(Exception):
    """The gateway refused the socket connection (bad token, too many sockets)."""


_BY_STATUS: dict[int, type[ParleyError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    503: Unavailable,
    504: Unavailable,
}


def error_for(response: httpx.Response) -> ParleyError:
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = body if isinstance(body, dict) else {"title": response.reason_phrase}
    kind = _BY_STATUS.get(response.status_code, ParleyError)
    return kind(response.status_code, problem, response)
