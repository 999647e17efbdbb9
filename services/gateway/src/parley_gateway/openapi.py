"""One OpenAPI document for the whole public API, merged from the services' own documents.

Each service documents its routes where they are implemented; the gateway fetches those
documents (cached), keeps the paths of its public route table (`routes.py`), and adds its own
(`/api` seed routes), so `/docs` always matches what the services really serve. What the edge
adds is written in too: each path parameter's format, the bearer requirement of every route
that is not anonymous, and the problem responses of every operation (`429` from the rate
limit everywhere, plus those the route table names, e.g. `403` and `409`).
"""

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from parley_gateway.routes import PARAMETERS, ROUTES, PublicRoute
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.logs import get_logger
from parley_kit.openapi import document_problems

log = get_logger(__name__)

BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
EDGE_STATUSES = frozenset({429})  # every call passes the rate limit


def edge_statuses(routes: tuple[PublicRoute, ...] = ROUTES) -> Any:
    """The `extra` of `document_problems` for the merged document: what the edge and the route
    table add to each operation's problem responses."""
    by_template = {route.template: route for route in routes}

    def statuses(path: str, method: str, _operation: dict[str, Any]) -> frozenset[int]:
        route = by_template.get(path)
        if route is None:
            return EDGE_STATUSES
        return EDGE_STATUSES | route.operations.get(method.upper(), frozenset())

    return statuses


def describe_edge(paths: dict[str, Any], routes: tuple[PublicRoute, ...] = ROUTES) -> None:
    """Write what the route table knows into the operations of `paths` (in place): each path
    parameter's format and whether the route needs a bearer token."""
    for route in routes:
        item = paths.get(route.template)
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method.upper() not in route.operations or not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                kind = PARAMETERS.get(parameter.get("name", ""))
                if parameter.get("in") == "path" and kind is not None:
                    parameter["schema"] = dict(kind.schema)
            if route.anonymous:
                operation.pop("security", None)
            else:
                operation["security"] = [{"bearer": []}]


class PublicDocs:
    def __init__(
        self,
        upstreams: Upstreams,
        own: Callable[[], dict[str, Any]],
        *,
        cache_seconds: float = 60.0,
    ) -> None:
        self._upstreams = upstreams
        self._own = own
        self._cache_seconds = cache_seconds
        self._documents: dict[Service, tuple[float, dict[str, Any]]] = {}

    async def _fetch(self, service: Service) -> dict[str, Any] | None:
        cached = self._documents.get(service)
        if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            response = await self._upstreams.send(
                service, "GET", "/openapi.json", headers={}, timeout=5.0
            )
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except Exception as exc:  # a missing part must not break the docs of the others
            log.warning("could not fetch service OpenAPI", service=service, error=str(exc))
            return cached[1] if cached is not None else None
        self._documents[service] = (time.monotonic(), document)
        return document

    async def document(self) -> dict[str, Any]:
        merged = copy.deepcopy(self._own())  # the app's cached document stays as it was
        paths: dict[str, Any] = dict(merged.get("paths", {}))
        schemas: dict[str, Any] = dict(merged.get("components", {}).get("schemas", {}))
        services = list(Service)
        documents = await asyncio.gather(*(self._fetch(service) for service in services))
        missing = []
        for service, document in zip(services, documents, strict=True):
            if document is None:
                missing.append(service.value)
                continue
            served = {route.template for route in ROUTES if route.service is service}
            for path, item in document.get("paths", {}).items():
                if path in served:
                    paths[path] = item
            for name, schema in document.get("components", {}).get("schemas", {}).items():
                schemas.setdefault(name, schema)
        describe_edge(paths)
        merged["paths"] = dict(sorted(paths.items()))
        components = merged.setdefault("components", {})
        components["schemas"] = schemas
        components["securitySchemes"] = {"bearer": BEARER}
        merged.pop("security", None)  # each operation says whether it needs a token
        document_problems(merged, edge_statuses())
        if missing:
            merged["info"]["description"] = (
                f"{merged['info'].get('description', '')}\n\n"
                f"Currently missing (service unreachable): {', '.join(missing)}."
            )
        return merged
