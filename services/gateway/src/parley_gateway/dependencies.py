"""`Annotated` dependency aliases over what the lifespan put on `app.state`."""

from typing import Annotated

from fastapi import Depends, Request

from parley_gateway.edge import Edge
from parley_gateway.openapi import PublicDocs
from parley_gateway.seed import SeedCompat
from parley_gateway.upstreams import Upstreams


async def _edge(request: Request) -> Edge:
    edge: Edge = request.app.state.edge
    return edge


async def _upstreams(request: Request) -> Upstreams:
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


async def _docs(request: Request) -> PublicDocs:
    docs: PublicDocs = request.app.state.docs
    return docs


EdgeDep = Annotated[Edge, Depends(_edge)]
UpstreamsDep = Annotated[Upstreams, Depends(_upstreams)]
DocsDep = Annotated[PublicDocs, Depends(_docs)]


async def _seed(request: Request) -> SeedCompat:
    seed: SeedCompat = request.app.state.seed
    return seed


SeedDep = Annotated[SeedCompat, Depends(_seed)]
