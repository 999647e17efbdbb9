"""The public OpenAPI document, as the running gateway serves it, documents every operation's
error responses as `application/problem+json` with the `Problem` schema: 503 and 429
everywhere, 401 wherever a token is needed, 422 for any input, 413 for any body, 404 for any
path parameter, and the 403s and 409s the route table names. A route added without them fails
here; so does an operation that documents an error in any other shape."""

from typing import Any

import httpx
import pytest

from parley_gateway.routes import ROUTES
from parley_kit.openapi import implied_statuses, operations

pytestmark = pytest.mark.e2e

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def expected_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    statuses = implied_statuses(operation) | {429}
    if path.startswith("/v1/") or path.startswith("/api/"):
        anonymous = {r.template for r in ROUTES if r.anonymous} | {
            "/api/auth/signup",
            "/api/auth/login",
        }
        if path not in anonymous:
            statuses.add(401)
    for route in ROUTES:
        if route.template == path:
            statuses |= route.operations.get(method.upper(), frozenset())
    return statuses


async def test_every_operation_documents_its_problem_responses(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
    missing: list[str] = []
    badly_shaped: list[str] = []
    checked = 0
    for path, method, operation in operations(document):
        responses: dict[str, Any] = operation.get("responses", {})
        for status in sorted(expected_statuses(path, method, operation)):
            if str(status) not in responses:
                missing.append(f"{method.upper()} {path} {status}")
        for code, response in responses.items():
            if int(code) < 400:
                continue
            content = response.get("content", {})
            if list(content) != ["application/problem+json"] or (
                content["application/problem+json"].get("schema") != PROBLEM_SCHEMA
            ):
                badly_shaped.append(f"{method.upper()} {path} {code}")
        checked += 1
    schemas = document["components"]["schemas"]
    assert missing == []
    assert badly_shaped == []
    assert checked >= sum(len(route.operations) for route in ROUTES) + 7  # + the /api routes
    assert {"Problem", "FieldError"} <= set(schemas)
    assert "HTTPValidationError" not in schemas


async def test_the_document_lists_exactly_the_routes_the_gateway_forwards(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
    documented = {
        (method.upper(), path)
        for path, method, _ in operations(document)
        if not path.startswith("/api/")
    }
    forwarded = {(method, route.template) for route in ROUTES for method in route.operations}
    assert documented == forwarded
    assert "Currently missing" not in document["info"]["description"]
