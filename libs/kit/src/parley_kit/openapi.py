"""What every route may answer besides its own results, written into an OpenAPI document.

Any route can meet a full process, a spent deadline or a store that does not answer in time:
each operation documents that `503` problem with its `Retry-After` header.
"""

from typing import Any

from parley_contracts.problems import PROBLEM_MEDIA_TYPE, Problem

OPERATIONS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
UNDOCUMENTED_PATHS = {"/healthz", "/readyz", "/metrics"}
PROBLEM_REF = "#/components/schemas/Problem"

UNAVAILABLE = {
    "description": (
        "Unavailable: the service is at capacity, the request's deadline passed, or a "
        "dependency did not answer in time. Nothing was done; retry after `Retry-After` seconds."
    ),
    "headers": {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
}


def problem_schemas() -> dict[str, Any]:
    """`Problem` and what it refers to, as OpenAPI component schemas."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, "Problem": schema}


def document_unavailable(document: dict[str, Any]) -> dict[str, Any]:
    """Add the 503 problem response to every operation of `document` (in place; idempotent)."""
    for path, item in document.get("paths", {}).items():
        if path in UNDOCUMENTED_PATHS:
            continue
        for method, operation in item.items():
            if method in OPERATIONS and isinstance(operation, dict):
                operation.setdefault("responses", {}).setdefault("503", UNAVAILABLE)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in problem_schemas().items():
        schemas.setdefault(name, schema)
    return document
