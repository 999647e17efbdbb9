"""`/openapi.json` (merged from every service) and the Swagger UI at `/docs`."""

import orjson
from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from parley_gateway.dependencies import DocsDep

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi(docs: DocsDep) -> Response:
    return Response(orjson.dumps(await docs.document()), media_type="application/json")


@router.get("/docs")
async def swagger() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Parley API")
