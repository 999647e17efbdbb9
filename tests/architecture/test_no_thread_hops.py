"""Every endpoint and dependency of every service is a coroutine function.

FastAPI runs a plain `def` endpoint or dependency in a worker thread: two thread hops per
request for a one-line `request.app.state` getter cost the gateway more CPU than the proxying
itself (measured with py-spy under load). This keeps such a function from coming back.
"""

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from parley_auth.main import create_app as create_auth
from parley_gateway.main import create_app as create_gateway
from parley_messaging.main import create_app as create_messaging
from parley_search.main import create_app as create_search

APPS = {
    "auth": create_auth,
    "messaging": create_messaging,
    "search": create_search,
    "gateway": create_gateway,
}


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from dependants(child)


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route, also inside included routers (kept nested by recent FastAPI)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None) or getattr(route, "router", None)
        if nested is not None and nested is not route:
            yield from api_routes(list(getattr(nested, "routes", [])))


def thread_hops(app: FastAPI) -> list[str]:
    found = []
    for route in api_routes(list(app.routes)):
        for dependant in dependants(route.dependant):
            call = dependant.call
            if call is None or inspect.iscoroutinefunction(call):
                continue
            if inspect.isclass(call):
                continue  # a class dependency (e.g. a security scheme) is constructed, not run
            if inspect.iscoroutinefunction(type(call).__call__):
                continue
            found.append(f"{route.path}: {getattr(call, '__qualname__', call)}")
    return found


@pytest.mark.parametrize("service", sorted(APPS))
def test_no_endpoint_or_dependency_runs_in_a_thread(service: str) -> None:
    app = inner_fastapi(APPS[service]())
    assert thread_hops(app) == []


def inner_fastapi(app: Any) -> FastAPI:
    """The FastAPI app inside the ASGI wrappers a service puts around it (the last resort, the
    ops listener, the trace-context guard, the Socket.IO mount), whatever their order."""
    for _ in range(10):
        if isinstance(app, FastAPI):
            return app
        inner = getattr(app, "other_asgi_app", None) or getattr(app, "app", None)
        assert inner is not None, f"{type(app).__name__} wraps no app the check can follow"
        app = inner
    raise AssertionError("more than 10 ASGI wrappers around the FastAPI app")


def test_the_check_finds_a_plain_function_dependency() -> None:
    from typing import Annotated

    from fastapi import Depends

    def plain() -> int:
        return 1

    app = FastAPI()

    @app.get("/x")
    async def endpoint(value: Annotated[int, Depends(plain)]) -> int:
        return value

    assert thread_hops(app) == [
        "/x: test_the_check_finds_a_plain_function_dependency.<locals>.plain"
    ]
