"""Calling the services over httpx: where each one is, and the rules of every call.

The gateway forwards the verified identity (signed with the internal secret) instead of the
bearer token, strips anything a client might send to impersonate the gateway, and stamps each
call with a deadline (`X-Parley-Deadline`) a little before it gives up itself: the service
stops at that deadline and answers 503, and its store calls carry the time left. A service
that is down, slow or at capacity becomes a prompt 503 problem with `Retry-After`, never a
stack trace or a 504 after a long wait.

Every call goes through `send`, which keeps two rules whoever calls it: a path is sent only
in its plain form (no dot segment, no encoded separator or control character: nothing a
normalising hop could turn into another path), and the internal secret travels only on calls
to `/internal/...` routes, so a public call never carries it, whatever path it was given.
A request on a pooled connection that the service had closed meanwhile is retried once on a
fresh connection when it is idempotent.
"""

import re
import time
from enum import StrEnum
from typing import Final
from urllib.parse import unquote

import httpx
from starlette.datastructures import Headers

from parley_kit.deadlines import DEADLINE_HEADER, current_deadline, header_value
from parley_kit.identity import (
    CLIENT_IP_HEADER,
    IDENTITY_HEADER,
    INTERNAL_TOKEN_HEADER,
    ForwardedIdentity,
)
from parley_kit.logs import get_logger, request_id_var
from parley_kit.problems import BadRequest, ServiceUnavailable

log = get_logger(__name__)


class Service(StrEnum):
    AUTH = "auth"
    MESSAGING = "messaging"
    SEARCH = "search"


INTERNAL_PREFIX: Final = "/internal/"
# One path segment in its plain form: RFC 3986 path characters and percent-escapes.
_SEGMENT: Final = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+")
# What a decoded segment must not hold: to some hop it would be a separator or end the path.
_DECODED_FORBIDDEN: Final = re.compile(r"[/\\?#\x00-\x1f\x7f]")
# Methods safe to send again when a pooled connection turned out closed.
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# How a request fails on a connection the service had closed (keep-alive race, a restart).
_STALE_CONNECTION: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

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
    CLIENT_IP_HEADER.lower(),
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


def _plain_segment(segment: str) -> bool:
    if not _SEGMENT.fullmatch(segment):
        return False
    try:
        decoded = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return False
    return decoded not in {".", ".."} and not _DECODED_FORBIDDEN.search(decoded)


def plain_path(path: str) -> str:
    """`path` if it is in its plain form, else a 400: every segment non-empty RFC 3986
    characters whose decoded text is neither `.` nor `..` and holds no separator or control
    character. Such a path means the same to every hop (httpx, a proxy, the service)."""
    if not (path.startswith("/") and all(_plain_segment(s) for s in path.split("/")[1:])):
        log.warning("refused an upstream path that is not plain", path=path[:200])
        raise BadRequest("the path is not allowed")
    return path


class Upstreams:
    """The services' addresses and the shared httpx pool every call goes through."""

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
        self._forwarded = ForwardedIdentity(internal_secret)
        self._request_timeout = request_timeout
        self._search_timeout = search_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._margin = deadline_margin
        self._retry_after = retry_after

    def url(self, service: Service) -> str:
        return self._urls[service]

    def timeout(self, service: Service) -> float:
        """How long a forwarded call to `service` may take (searches have their own bound)."""
        return self._search_timeout if service is Service.SEARCH else self._request_timeout

    def internal_headers(
        self, identity: str | None = None, *, client_ip: str | None = None
    ) -> dict[str, str]:
        """Headers of a call the gateway makes on its own behalf (seed routes, sockets): the
        signed identity and client address. `send` adds the secret on internal routes only."""
        headers = {"x-request-id": request_id_var.get() or ""}
        if identity is not None:
            headers[IDENTITY_HEADER] = identity
        if client_ip is not None:
            headers[CLIENT_IP_HEADER] = self._forwarded.sign_client_ip(client_ip)
        return headers

    def forwarded_headers(
        self, service: Service, incoming: Headers, *, client_ip: str, identity: str | None
    ) -> dict[str, str]:
        headers = {k: v for k, v in incoming.items() if k.lower() not in _DROPPED_REQUEST}
        # The bearer token was verified here; services trust the signed identity instead.
        headers.pop("authorization", None)
        headers["x-forwarded-for"] = client_ip
        # Auth bounds logins and signups per client address and takes it from this signed
        # header only (a public call never carries the internal secret).
        headers[CLIENT_IP_HEADER] = self._forwarded.sign_client_ip(client_ip)
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
        its 503s included, are returned as they are. A path that is not plain is a 400.
        """
        internal = plain_path(path).startswith(INTERNAL_PREFIX)
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
        headers = {k: v for k, v in headers.items() if k.lower() != INTERNAL_TOKEN_HEADER.lower()}
        if internal:
            headers[INTERNAL_TOKEN_HEADER] = self._secret
        # The service's deadline falls a little earlier than ours, so its 503 reaches us.
        headers[DEADLINE_HEADER] = header_value(give_up - min(self._margin, wait / 4))
        attempts = 2 if method.upper() in IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._request(service, method, path, headers, params, content, give_up)
            except _STALE_CONNECTION as exc:
                if attempt < attempts and give_up > time.time():
                    # Most likely a kept-alive connection the service closed meanwhile; the
                    # request is idempotent, so a fresh connection may carry it again.
                    log.info("retrying on a fresh connection", service=service, error=repr(exc))
                    continue
                log.warning("upstream connection failed", service=service, error=repr(exc))
                raise ServiceUnavailable(
                    f"the {service} service is unavailable", retry_after=self._retry_after
                ) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _request(
        self,
        service: Service,
        method: str,
        path: str,
        headers: dict[str, str],
        params: list[tuple[str, str]] | None,
        content: bytes | None,
        give_up: float,
    ) -> httpx.Response:
        wait = max(give_up - time.time(), 0.001)
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
        except _STALE_CONNECTION:
            raise
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
