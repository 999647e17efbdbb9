"""One OpenAPI document for the whole public API, merged from the services' own documents.

Each service documents its routes where they are implemented; the gateway fetches those
documents (cached), keeps only the public paths, and adds its own (`/api` seed routes), so
`/docs` always matches what the services really serve.
"""

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from parley_gateway.upstreams import Service, Upstreams
from parley_kit.logs import get_logger
from parley_kit.openapi import document_problems

log = get_logger(__name__)

PUBLIC_PREFIXES = ("/v1/", "/.well-known/")
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


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
            for path, item in document.get("paths", {}).items():
                if path.startswith(PUBLIC_PREFIXES):
                    paths[path] = item
            for name, schema in document.get("components", {}).get("schemas", {}).items():
                schemas.setdefault(name, schema)
        merged["paths"] = dict(sorted(paths.items()))
        components = merged.setdefault("components", {})
        components["schemas"] = schemas
        components["securitySchemes"] = {"bearer": BEARER}
        merged["security"] = [{"bearer": []}]
        # A service's document already has it; this covers one that does not (older version).
        document_problems(merged)
        if missing:
            merged["info"]["description"] = (
                f"{merged['info'].get('description', '')}\n\n"
                f"Currently missing (service unreachable): {', '.join(missing)}."
            )
        return merged
