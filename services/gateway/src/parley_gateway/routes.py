"""The public route table: every path the gateway forwards, what each path parameter is, and
which service answers it. Nothing outside this table reaches a service through the proxy.

A request path is matched segment by segment on the path as the client sent it (still
percent-encoded), so an encoded `/` (`%2F`) or `..` (`%2e%2e`) stays inside its segment; each
parameter is then decoded and checked as what it is (`parley_contracts.ids`), and the path sent
upstream is rebuilt from the template with every parameter percent-encoded. A forwarded path is
therefore always one of the templates below with plain ids in it: `/internal/...` or a dot
segment cannot be produced, whatever the input.

The table is also the gateway's word on the public contract in OpenAPI: the parameter formats
and the errors each operation answers beyond the ones its shape implies (see
`parley_kit.openapi`). A test compares it with the routes the services serve.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, unquote_to_bytes

from parley_contracts.ids import (
    EMOJI_PATTERN,
    MAX_EMOJI_CHARS,
    MESSAGE_ID_PATTERN,
    OBJECT_ID_PATTERN,
    emoji_problem,
    is_message_id,
    is_object_id,
)
from parley_contracts.problems import FieldError
from parley_gateway.upstreams import Service

SESSION_ID_PATTERN: Final = "^[0-9a-f]{32}$"
SESSION_ID_RE: Final = re.compile("[0-9a-f]{32}")


@dataclass(frozen=True)
class ParameterKind:
    """What one kind of path parameter may hold."""

    problem: Callable[[str], str | None]  # why a decoded value is not one, or None
    schema: Mapping[str, Any]  # its OpenAPI schema


def _object_id_problem(value: str) -> str | None:
    return None if is_object_id(value) else "an id is 24 lowercase hexadecimal digits"


def _message_id_problem(value: str) -> str | None:
    return None if is_message_id(value) else "a message id is <conversation id>-<seq>"


OBJECT_ID = ParameterKind(
    _object_id_problem,
    {"type": "string", "pattern": OBJECT_ID_PATTERN, "minLength": 24, "maxLength": 24},
)
MESSAGE_ID = ParameterKind(
    _message_id_problem,
    {"type": "string", "pattern": MESSAGE_ID_PATTERN, "minLength": 26, "maxLength": 43},
)
SESSION_ID = ParameterKind(
    lambda value: None if SESSION_ID_RE.fullmatch(value) else "a session id is 32 hex digits",
    {"type": "string", "pattern": SESSION_ID_PATTERN, "minLength": 32, "maxLength": 32},
)
EMOJI = ParameterKind(
    emoji_problem,
    {"type": "string", "pattern": EMOJI_PATTERN, "minLength": 1, "maxLength": MAX_EMOJI_CHARS},
)
# Every parameter name a template may use; a template with another name fails at import.
PARAMETERS: Final[Mapping[str, ParameterKind]] = {
    "conversation_id": OBJECT_ID,
    "user_id": OBJECT_ID,
    "message_id": MESSAGE_ID,
    "emoji": EMOJI,
    "session_id": SESSION_ID,
}


@dataclass(frozen=True)
class PublicRoute:
    """One public path template and what the gateway knows about its operations."""

    template: str
    service: Service
    # method -> the problem statuses it answers beyond those implied by its shape and the edge
    # (503, 429; 401 unless anonymous; 422/413 for input; 404 for path parameters).
    operations: Mapping[str, frozenset[int]]
    anonymous: bool = False  # reachable without an access token
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        segments = tuple(self.template.split("/")[1:])
        for segment in segments:
            name = _parameter_name(segment)
            if name is not None and name not in PARAMETERS:
                raise ValueError(f"{self.template}: no parameter kind named {name!r}")
        object.__setattr__(self, "segments", segments)

    @property
    def parameters(self) -> list[str]:
        return [name for s in self.segments if (name := _parameter_name(s)) is not None]


def _parameter_name(segment: str) -> str | None:
    if segment.startswith("{") and segment.endswith("}"):
        return segment[1:-1]
    return None


def _ops(**methods: tuple[int, ...]) -> dict[str, frozenset[int]]:
    return {method.upper(): frozenset(statuses) for method, statuses in methods.items()}


AUTH, MESSAGING, SEARCH = Service.AUTH, Service.MESSAGING, Service.SEARCH
CONVERSATION = "/v1/conversations/{conversation_id}"
MESSAGE = f"{CONVERSATION}/messages/{{message_id}}"

ROUTES: Final[tuple[PublicRoute, ...]] = (
    PublicRoute("/v1/tenants", AUTH, _ops(post=(403, 409)), anonymous=True),
    PublicRoute("/v1/auth/signup", AUTH, _ops(post=(403, 404, 409)), anonymous=True),
    PublicRoute("/v1/auth/login", AUTH, _ops(post=(401,)), anonymous=True),
    PublicRoute("/v1/auth/refresh", AUTH, _ops(post=(401,)), anonymous=True),
    PublicRoute("/v1/auth/logout", AUTH, _ops(post=(401,)), anonymous=True),
    PublicRoute("/.well-known/jwks.json", AUTH, _ops(get=()), anonymous=True),
    PublicRoute("/v1/auth/me", AUTH, _ops(get=(), patch=(409,))),
    PublicRoute("/v1/auth/password", AUTH, _ops(post=(403,))),
    PublicRoute("/v1/auth/sessions", AUTH, _ops(get=())),
    PublicRoute("/v1/auth/sessions/{session_id}", AUTH, _ops(delete=())),
    PublicRoute("/v1/users", AUTH, _ops(get=())),
    PublicRoute("/v1/users/{user_id}/roles", AUTH, _ops(put=(403, 409))),
    PublicRoute("/v1/users/{user_id}/deactivate", AUTH, _ops(post=(403,))),
    PublicRoute("/v1/users/{user_id}/reactivate", AUTH, _ops(post=(403,))),
    PublicRoute("/v1/conversations", MESSAGING, _ops(get=(), post=(409,))),
    PublicRoute(CONVERSATION, MESSAGING, _ops(get=(), patch=(403,))),
    PublicRoute(f"{CONVERSATION}/members", MESSAGING, _ops(post=(403, 409))),
    PublicRoute(f"{CONVERSATION}/members/{{user_id}}", MESSAGING, _ops(delete=(403,))),
    PublicRoute(f"{CONVERSATION}/read", MESSAGING, _ops(post=())),
    PublicRoute(f"{CONVERSATION}/notifications", MESSAGING, _ops(put=())),
    PublicRoute("/v1/me/notifications", MESSAGING, _ops(get=())),
    PublicRoute("/v1/me/notifications/read", MESSAGING, _ops(post=())),
    PublicRoute(f"{CONVERSATION}/messages", MESSAGING, _ops(get=(), post=())),
    PublicRoute(MESSAGE, MESSAGING, _ops(get=(), patch=(403, 409), delete=(403,))),
    PublicRoute(f"{MESSAGE}/replies", MESSAGING, _ops(get=())),
    PublicRoute(f"{MESSAGE}/edits", MESSAGING, _ops(get=())),
    PublicRoute(f"{MESSAGE}/pin", MESSAGING, _ops(put=(403, 409), delete=(403,))),
    PublicRoute(f"{CONVERSATION}/pins", MESSAGING, _ops(get=())),
    PublicRoute(f"{MESSAGE}/reactions/{{emoji}}", MESSAGING, _ops(put=(409,), delete=(409,))),
    PublicRoute("/v1/search/messages", SEARCH, _ops(get=())),
)


@dataclass(frozen=True)
class Matched:
    """A request path matched to a route: the decoded parameters, and what is wrong with them."""

    route: PublicRoute
    parameters: dict[str, str]
    errors: list[FieldError]

    def upstream_path(self) -> str:
        """The path to forward: the template, each parameter percent-encoded."""
        return fill(self.route.template, self.parameters)


class NoRoute(Exception):
    """No public route has this path (`allowed` empty) or this method (`allowed` lists them)."""

    def __init__(self, allowed: frozenset[str] = frozenset()) -> None:
        super().__init__("no such route")
        self.allowed = allowed


def _decoded(raw: str) -> str | None:
    """A raw path segment (its bytes as latin-1 text) percent-decoded as UTF-8, or None if it
    is not valid UTF-8."""
    try:
        return unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


def parameter_problem(name: str, value: str | None) -> str | None:
    """Why a decoded path parameter is not what `name` holds, or None if it is."""
    if value is None:
        return "not valid percent-encoded UTF-8"
    return PARAMETERS[name].problem(value)


def match(method: str, raw_path: str, routes: tuple[PublicRoute, ...] = ROUTES) -> Matched:
    """The route of `raw_path` (as sent: percent-encoded, its bytes as latin-1 text); raises
    `NoRoute`."""
    segments = raw_path.split("/")[1:] if raw_path.startswith("/") else None
    if not segments:
        raise NoRoute()
    allowed: set[str] = set()
    for route in routes:
        if len(route.segments) != len(segments):
            continue
        pairs = list(zip(route.segments, segments, strict=True))
        if any(_parameter_name(t) is None and t != s for t, s in pairs):
            continue
        if method not in route.operations:
            allowed |= set(route.operations)
            continue
        parameters: dict[str, str] = {}
        errors: list[FieldError] = []
        for template, raw in pairs:
            name = _parameter_name(template)
            if name is None:
                continue
            value = _decoded(raw)
            problem = parameter_problem(name, value)
            if problem is not None:
                errors.append(FieldError(loc=f"path.{name}", msg=problem, type="invalid_id"))
            else:
                assert value is not None
                parameters[name] = value
        return Matched(route, parameters, errors)
    raise NoRoute(frozenset(allowed))


def fill(template: str, parameters: Mapping[str, str]) -> str:
    """`template` with each `{name}` replaced by its value, checked and percent-encoded.

    The one way the gateway builds a path from a client's values (the proxy and the `/api`
    routes alike); a value that is not what its name holds is a `ValueError` here, so a path
    is never built from an unchecked value even if a caller forgot to validate it.
    """
    parts = []
    for segment in template.split("/"):
        name = _parameter_name(segment)
        if name is None:
            parts.append(segment)
            continue
        value = parameters[name]
        problem = parameter_problem(name, value)
        if problem is not None:
            raise ValueError(f"{name}: {problem}")
        parts.append(quote(value, safe=""))
    return "/".join(parts)
