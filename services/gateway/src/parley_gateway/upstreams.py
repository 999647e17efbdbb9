"""Which service answers which public path, and forwarding a request to it over httpx.

The gateway forwards the verified identity (signed with the internal secret) instead of the
bearer token, strips anything a client might send to impersonate the gateway, and stamps each
call with a deadline (`X-Parley-Deadline`) a little before it gives up itself: the service
stops at that deadline and answers 503, and its store calls carry the time left. A service
that is down, slow or at capacity becomes a prompt 503 problem with `Retry-After`, never a
stack trace or a 504 after a long wait.
"""

import time
from dataclasses import dataclass
from enum import StrEnum

import httpx
from starlette.datastructures import Headers

from parley_kit.deadlines import DEADLINE_HEADER, current_deadline, header_value
from parley_kit.identity import IDENTITY_HEADER, INTERNAL_TOKEN_HEADER
from parley_kit.logs import get_logger, request_id_var
from parley_kit.problems import ServiceUnavailable

log = get_logger(__name__)


class Service(StrEnum):
    AUTH = "auth"
    MESSAGING = "messaging"
    SEARCH = "search"


@dataclass(frozen=True)
class Route:
    service: Service
    public: bool  # reachable without an access token
    timeout: float


# Request headers never forwarded: hop-by-hop ones, what httpx recomputes, and anything a
# client could use to pose as the gateway or another service.
_DROPPED_REQUEST = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    IDENTITY_HEADER.lower(),
    INTERNAL_TOKEN_HEADER.lower(),
    DEADLINE_HEADER,
}
_KEPT_RESPONSE = {
    "content-type",
    "retry-after",
    "www-authenticate",
    "location",
    "cache-control",
    "etag",
    "x-total-count",
}


class Upstreams:
    """The route table and the shared httpx pool every forwarded call goes through."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        urls: dict[Service, str],
        internal_secret: str,
        *,
        request_timeout: float,
        search_timeout: float,
        connect_timeout: float = 2.0,
        pool_timeout: float = 0.1,
        deadline_margin: float = 0.25,
        retry_after: int = 1,
    ) -> None:
        self._http = http
        self._urls = urls
        self._secret = internal_secret
        self._request_timeout = request_timeout
        self._search_timeout = search_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._margin = deadline_margin
        self._retry_after = retry_after

    def route(self, path: str) -> Route | None:
        """The service behind a public path, or None when the gateway serves no such path."""
        auth_public = {
            "/v1/tenants",
            "/v1/auth/signup",
            "/v1/auth/login",
            "/v1/auth/refresh",
            "/v1/auth/logout",
            "/.well-known/jwks.json",
        }
        if path in auth_public:
            return Route(Service.AUTH, True, self._request_timeout)
        if path == "/v1/auth/me" or path == "/v1/users" or path.startswith("/v1/users/"):
            return Route(Service.AUTH, False, self._request_timeout)
        if path == "/v1/conversations" or path.startswith("/v1/conversations/"):
            return Route(Service.MESSAGING, False, self._request_timeout)
        if path.startswith("/v1/search/"):
            return Route(Service.SEARCH, False, self._search_timeout)
        return None

    def url(self, service: Service) -> str:
        return self._urls[service]

    def internal_headers(self, identity: str | None = None) -> dict[str, str]:
        """Headers of a call the gateway makes on its own behalf (seed routes, sockets)."""
        headers = {INTERNAL_TOKEN_HEADER: self._secret, "x-request-id": request_id_var.get() or ""}
        if identity is not None:
            headers[IDENTITY_HEADER] = identity
        return headers

    def forwarded_headers(
        self, service: Service, incoming: Headers, *, client_ip: str, identity: str | None
    ) -> dict[str, str]:
        headers = {k: v for k, v in incoming.items() if k.lower() not in _DROPPED_REQUEST}
        # The bearer token was verified here; services trust the signed identity instead.
        headers.pop("authorization", None)
        headers["x-forwarded-for"] = client_ip
        if service is Service.AUTH:
            # Auth throttles logins per client IP and trusts X-Forwarded-For only from a
            # holder of the internal secret.
            headers[INTERNAL_TOKEN_HEADER] = self._secret
        headers["x-request-id"] = request_id_var.get() or ""
        if identity is not None:
            headers[IDENTITY_HEADER] = identity
        return headers

    async def send(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: list[tuple[str, str]] | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Call a service within the current request's deadline (and `timeout`).

        Whatever keeps the answer from coming in time (no time left, no free connection, a
        service down or slow) is a 503 problem with `Retry-After`; a service's own answers,
        its 503s included, are returned as they are.
        """
        now = time.time()
        give_up = now + (timeout or self._request_timeout)
        deadline = current_deadline()
        if deadline is not None:
            give_up = min(give_up, deadline)
        wait = give_up - now
        if wait <= 0:
            raise ServiceUnavailable(
                "the request ran out of time before it reached a service",
                retry_after=self._retry_after,
            )
        # The service's deadline falls a little earlier than ours, so its 503 reaches us.
        headers = headers | {DEADLINE_HEADER: header_value(give_up - min(self._margin, wait / 4))}
        limits = httpx.Timeout(
            wait, connect=min(self._connect_timeout, wait), pool=min(self._pool_timeout, wait)
        )
        try:
            return await self._http.request(
                method,
                f"{self._urls[service]}{path}",
                headers=headers,
                params=tuple(params) if params else None,
                content=content,
                timeout=limits,
            )
        except httpx.PoolTimeout as exc:
            log.warning("upstream pool exhausted", service=service, path=path)
            raise ServiceUnavailable(
                "the gateway is at capacity; retry shortly", retry_after=self._retry_after
            ) from exc
        except httpx.TimeoutException as exc:
            log.warning("upstream timed out", service=service, path=path, error=repr(exc))
            raise ServiceUnavailable(
                f"the {service} service did not answer in time", retry_after=self._retry_after
            ) from exc
        except httpx.TransportError as exc:
            log.warning("upstream unreachable", service=service, path=path, error=repr(exc))
            raise ServiceUnavailable(
                f"the {service} service is unavailable", retry_after=self._retry_after
            ) from exc

    @staticmethod
    def response_headers(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k.lower() in _KEPT_RESPONSE}
