"""What every route may answer besides its own results, written into an OpenAPI document.

Errors are RFC 9457 problem details (`application/problem+json`, schema `Problem`), whatever
raised them. `document_problems` gives each operation the problem responses that follow from
its shape and adds the ones a caller names:

- every operation: `503` (a full process, a spent deadline, a store that did not answer), with
  its `Retry-After` header;
- parameters or a body: `422` (the `errors` list names each bad field);
- a body: `413` (bodies are bounded);
- a path parameter: `404` (no such resource, or one the caller may not see);
- a security requirement (a route that depends on `CurrentClaims`): `401`;
- whatever `extra` says for the operation (`403`, `409`, `429`, ...).

Every error response already declared (FastAPI's own `422`, a route's `responses=`) is rewritten
to the problem media type, so a document never promises a shape the service does not send.
"""

from collections.abc import Callable, Iterable
from typing import Any

from parley_contracts.problems import PROBLEM_MEDIA_TYPE, Problem

OPERATIONS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
UNDOCUMENTED_PATHS = {"/healthz", "/readyz", "/metrics"}
PROBLEM_REF = "#/components/schemas/Problem"
# FastAPI's validation error shapes, which no Parley route sends (they answer `Problem`).
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: the request could not be read.",
    401: (
        "Unauthorized: the access token is missing, invalid, expired, or older than the "
        "caller's current roles (refresh it)."
    ),
    403: "Forbidden: authenticated, but the caller's role does not allow this.",
    404: (
        "Not found: no such resource, or one in another tenant or in a conversation the "
        "caller is not a member of (existence is never revealed)."
    ),
    405: "Method not allowed on this path.",
    409: "Conflict with the current state of the resource.",
    413: "Request body too large.",
    422: "Validation failed: `errors` names each bad field (`loc`, `msg`, `type`).",
    429: "Too many requests: retry after `Retry-After` seconds.",
    503: (
        "Unavailable: the service is at capacity, the request's deadline passed, or a "
        "dependency did not answer in time. Nothing was done; retry after `Retry-After` seconds."
    ),
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: _WWW_AUTHENTICATE,
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of a problem with `status`."""
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, "Error."),
        "content": problem_content(),
    }
    if status in _HEADERS:
        response["headers"] = dict(_HEADERS[status])
    return response


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: e.g. `problem_responses(403, 409, s409="last owner")`."""
    return {status: problem_response(status, descriptions.get(f"s{status}")) for status in statuses}


UNAVAILABLE = problem_response(503)

Extra = Callable[[str, str, dict[str, Any]], Iterable[int]]


def implied_statuses(operation: dict[str, Any]) -> set[int]:
    """The problem statuses an operation answers because of its shape alone."""
    statuses = {503}
    parameters = operation.get("parameters") or []
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(413)
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if operation.get("security"):
        statuses.add(401)
    return statuses


def problem_schemas() -> dict[str, Any]:
    """`Problem` and what it refers to, as OpenAPI component schemas."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, "Problem": schema}


def operations(document: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every documented operation."""
    for path, item in document.get("paths", {}).items():
        if path in UNDOCUMENTED_PATHS or not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method in OPERATIONS and isinstance(operation, dict):
                yield path, method, operation


def document_problems(document: dict[str, Any], extra: Extra | None = None) -> dict[str, Any]:
    """Give every operation of `document` its problem responses (in place; idempotent)."""
    for path, method, operation in operations(document):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        statuses = implied_statuses(operation)
        if extra is not None:
            statuses |= set(extra(path, method, operation))
        for status in sorted(statuses):
            responses.setdefault(str(status), problem_response(status))
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400 and isinstance(response, dict):
                response["content"] = problem_content()
                for name, header in _HEADERS.get(int(code), {}).items():
                    response.setdefault("headers", {}).setdefault(name, header)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    for name, schema in problem_schemas().items():
        schemas.setdefault(name, schema)
    return document
