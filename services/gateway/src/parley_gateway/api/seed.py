"""The seed system's `/api` routes (API.md "Seed compatibility"). Thin: admit, translate, answer."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from parley_contracts.claims import AccessClaims
from parley_contracts.ids import ConversationId
from parley_contracts.validation import Slug
from parley_gateway.dependencies import EdgeDep, SeedDep
from parley_gateway.edge import Caller
from parley_gateway.seed import (
    SeedConversationCreate,
    SeedLogin,
    SeedMessageCreate,
    SeedPage,
    SeedSearchPage,
    SeedSignup,
    SeedToken,
    history_order,
)
from parley_kit.openapi import problem_responses

router = APIRouter(prefix="/api", tags=["seed compatibility"])

# These routes admit their caller themselves (`_member`); the requirement is declared here so
# the document shows it and each route documents its 401.
BEARER_REQUIRED: dict[str, Any] = {"security": [{"bearer": []}]}
PathConversationId = Annotated[ConversationId, Path()]
PageNo = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=100)]
HistorySort = Annotated[
    str,
    Query(
        max_length=64,
        description="`asc`/`desc` (also `ascending`/`descending`, `1`/`-1`) or a field that "
        "orders messages as they were sent: `timestamp`, `createdAt`, `_id`, `id`, `seq`, "
        "descending with a leading `-` (the seed's default is `-timestamp`). Anything else "
        "is a 422 naming `sort`.",
    ),
]


def _json(body: Any, status_code: int = status.HTTP_200_OK) -> Response:
    """Resources as the services sent them, serialised once by orjson, not re-validated."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


async def _member(edge: EdgeDep, request: Request) -> tuple[AccessClaims, str]:
    caller: Caller = await edge.admit(request, public=False)
    assert caller.claims is not None  # a private route admits only verified callers
    return caller.claims, edge.identity(caller.claims)


@router.post(
    "/auth/signup", status_code=status.HTTP_201_CREATED, responses=problem_responses(403, 409)
)
async def signup(body: SeedSignup, request: Request, edge: EdgeDep, seed: SeedDep) -> SeedToken:
    """Sign up into the legacy tenant `t<tenantId>` (created on first use); `roles` is ignored."""
    caller = await edge.admit(request, public=True)
    return await seed.signup(body, caller.ip)


@router.post("/auth/login", responses=problem_responses(401))
async def login(
    body: SeedLogin,
    request: Request,
    edge: EdgeDep,
    seed: SeedDep,
    x_tenant: Annotated[Slug, Header()] = "t1",
) -> SeedToken:
    """Log in with email and password; the tenant slug comes from `X-Tenant` (default `t1`)."""
    caller = await edge.admit(request, public=True)
    return await seed.login(body, x_tenant, caller.ip)


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    response_model=dict[str, Any],
    openapi_extra=BEARER_REQUIRED,
)
async def create_conversation(
    body: SeedConversationCreate, request: Request, edge: EdgeDep, seed: SeedDep
) -> Response:
    """A group conversation; `participants` are usernames of the caller's tenant."""
    claims, identity = await _member(edge, request)
    created = await seed.create_conversation(claims, identity, body)
    return _json(created, status.HTTP_201_CREATED)


@router.get(
    "/conversations/{conversation_id}",
    response_model=dict[str, Any],
    openapi_extra=BEARER_REQUIRED,
)
async def get_conversation(
    conversation_id: PathConversationId, request: Request, edge: EdgeDep, seed: SeedDep
) -> Response:
    _, identity = await _member(edge, request)
    return _json(await seed.conversation(identity, conversation_id))


@router.post(
    "/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=dict[str, Any],
    responses=problem_responses(403, 404),
    openapi_extra=BEARER_REQUIRED,
)
async def send_message(
    body: SeedMessageCreate, request: Request, edge: EdgeDep, seed: SeedDep
) -> Response:
    """Send as the caller; a `senderId` naming anyone else is refused with 403."""
    claims, identity = await _member(edge, request)
    return _json(await seed.send(claims, identity, body), status.HTTP_201_CREATED)


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=SeedPage,
    openapi_extra=BEARER_REQUIRED,
)
async def history(
    conversation_id: PathConversationId,
    request: Request,
    edge: EdgeDep,
    seed: SeedDep,
    pageNo: PageNo = 1,  # noqa: N803 - the seed's parameter names
    pageSize: PageSize = 10,  # noqa: N803
    sort: HistorySort = "-timestamp",
) -> Response:
    """Page-numbered history (newest first by default), computed from `seq` ranges."""
    order = history_order(sort)
    _, identity = await _member(edge, request)
    return _json(await seed.history(identity, conversation_id, pageNo, pageSize, order))


@router.get("/conversations/{conversation_id}/messages/search", openapi_extra=BEARER_REQUIRED)
async def search(
    conversation_id: PathConversationId,
    request: Request,
    edge: EdgeDep,
    seed: SeedDep,
    q: Annotated[str, Query(min_length=1, max_length=256)],
    pageNo: PageNo = 1,  # noqa: N803
    pageSize: PageSize = 10,  # noqa: N803
) -> SeedSearchPage:
    _, identity = await _member(edge, request)
    return await seed.search(identity, conversation_id, q, pageNo, pageSize)
