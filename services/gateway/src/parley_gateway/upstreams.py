"""Which service answers which public path, and forwarding a request to it over httpx.

The gateway forwards the verified identity (signed with the internal secret) instead of the
bearer token, strips anything a client might send to impersonate the gateway, and turns a
service that is down or slow into a clear 503/504 problem instead of a stack trace.
"""

from dataclasses import dataclass
from enum import StrEnum

import httpx
from starlette.datastructures import Headers

from parley_kit.identity import IDENTITY_HEADER, INTERNAL_TOKEN_HEADER
from parley_kit.logs import get_logger, request_id_var
from parley_kit.problems import ProblemError, ServiceUnavailable

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


class GatewayTimeout(ProblemError):
    status = 504


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
    ) -> None:
        self._http = http
        self._urls = urls
        self._secret = internal_secret
        self._request_timeout = request_timeout
        self._search_timeout = search_timeout

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
        """Call a service; connection failures become 503, timeouts 504 (problem details)."""
        try:
            return await self._http.request(
                method,
                f"{self._urls[service]}{path}",
                headers=headers,
                params=tuple(params) if params else None,
                content=content,
                timeout=timeout or self._request_timeout,
            )
        except httpx.TimeoutException as exc:
            log.warning("upstream timed out", service=service, path=path, error=repr(exc))
            raise GatewayTimeout(f"the {service} service did not answer in time") from exc
        except httpx.TransportError as exc:
            log.warning("upstream unreachable", service=service, path=path, error=repr(exc))
            raise ServiceUnavailable(f"the {service} service is unavailable") from exc

    @staticmethod
    def response_headers(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k.lower() in _KEPT_RESPONSE}
