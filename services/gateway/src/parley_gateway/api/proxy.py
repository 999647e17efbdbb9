"""The `/v1/**` edge: admit the caller, then forward the request to the service that owns it.

The route table lives in `upstreams.py`; the routes themselves are documented by the merged
OpenAPI document (`/openapi.json`), so the catch-all here stays out of the schema.
"""

from fastapi import APIRouter, Request, Response

from parley_gateway.dependencies import EdgeDep, UpstreamsDep
from parley_kit.problems import BadRequest, NotFound

router = APIRouter()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _forward_path(request: Request) -> str:
    """The path to forward, exactly as the client encoded it (emoji in reaction paths).

    Dot segments are refused: a normalising hop could otherwise turn
    `/v1/conversations/../../internal/...` into a route the gateway never exposes.
    """
    decoded = request.url.path
    if any(segment in {".", ".."} for segment in decoded.split("/")):
        raise BadRequest("dot segments are not allowed in paths")
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) and raw else decoded


async def forward(request: Request, edge: EdgeDep, upstreams: UpstreamsDep) -> Response:
    route = upstreams.route(request.url.path)
    if route is None:
        raise NotFound("no such route")
    path = _forward_path(request)
    caller = await edge.admit(request, public=route.public)
    identity = edge.identity(caller.claims) if caller.claims is not None else None
    upstream = await upstreams.send(
        route.service,
        request.method,
        path,
        headers=upstreams.forwarded_headers(
            route.service, request.headers, client_ip=caller.ip, identity=identity
        ),
        params=list(request.query_params.multi_items()),
        content=await request.body(),
        timeout=route.timeout,
    )
    return Response(
        upstream.content,
        status_code=upstream.status_code,
        headers=upstreams.response_headers(upstream),
    )


router.add_api_route("/v1/{path:path}", forward, methods=METHODS, include_in_schema=False)
router.add_api_route("/.well-known/jwks.json", forward, methods=["GET"], include_in_schema=False)
