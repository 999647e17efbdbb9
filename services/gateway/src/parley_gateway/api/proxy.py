"""The `/v1/**` edge: match the path to the public route table, admit the caller, then forward
the request to the service that owns it, on a path rebuilt from the table.

The route table lives in `routes.py`; the routes themselves are documented by the merged
OpenAPI document (`/openapi.json`), so the catch-all here stays out of the schema.
"""

from fastapi import APIRouter, Request, Response

from parley_gateway.dependencies import EdgeDep, UpstreamsDep
from parley_gateway.routes import Matched, NoRoute, match
from parley_kit.problems import NotFound, ProblemError, Unprocessable

router = APIRouter()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _matched(request: Request) -> Matched:
    """The public route of the request, matched on the path exactly as the client sent it
    (an encoded `/` or `.` stays inside its segment); 404 or 405 when there is none."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else request.url.path
    try:
        return match(request.method, path)
    except NoRoute as exc:
        if exc.allowed:
            raise ProblemError(
                f"{request.method} is not allowed here",
                status=405,
                headers={"Allow": ", ".join(sorted(exc.allowed))},
            ) from exc
        raise NotFound("no such route") from exc


async def forward(request: Request, edge: EdgeDep, upstreams: UpstreamsDep) -> Response:
    matched = _matched(request)
    caller = await edge.admit(request, public=matched.route.anonymous)
    if matched.errors:
        names = ", ".join(error.loc for error in matched.errors)
        raise Unprocessable(f"not a valid path parameter: {names}", errors=matched.errors)
    service = matched.route.service
    identity = edge.identity(caller.claims) if caller.claims is not None else None
    upstream = await upstreams.send(
        service,
        request.method,
        matched.upstream_path(),
        headers=upstreams.forwarded_headers(
            service, request.headers, client_ip=caller.ip, identity=identity
        ),
        params=list(request.query_params.multi_items()),
        content=await request.body(),
        timeout=upstreams.timeout(service),
    )
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        headers=upstreams.response_headers(upstream),
    )


router.add_api_route("/v1/{path:path}", forward, methods=METHODS, include_in_schema=False)
router.add_api_route("/.well-known/jwks.json", forward, methods=["GET"], include_in_schema=False)
