"""The search engine client as configured reaches the engine over verified TLS with the
configured credentials: a stand-in engine on HTTPS (a certificate of the test's own CA) records
what each client sends."""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parley_kit.testing.certificates import issued, self_signed
from parley_kit.testing.servers import free_port
from parley_search.engine import connect_engine
from parley_search.settings import SearchSettings

pytestmark = pytest.mark.integration

INFO = {
    "name": "stand-in",
    "cluster_name": "parley-test",
    "version": {"number": "8.15.0", "build_flavor": "default", "distribution": "opensearch"},
    "tagline": "You Know, for Search",
}


@dataclass
class StandIn:
    url: str
    ca_file: str
    authorizations: list[str | None] = field(default_factory=list)


@contextlib.asynccontextmanager
async def stand_in_engine(directory: Path) -> AsyncIterator[StandIn]:
    ca = self_signed(directory, "engine-ca")
    certificate, key = issued(directory, "engine", ca)
    port = free_port()
    engine = StandIn(f"https://127.0.0.1:{port}", str(ca[0]))

    async def info(request: Request) -> JSONResponse:
        engine.authorizations.append(request.headers.get("authorization"))
        return JSONResponse(INFO, headers={"X-Elastic-Product": "Elasticsearch"})

    config = uvicorn.Config(
        Starlette(routes=[Route("/", info)]),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        ssl_certfile=str(certificate),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:  # noqa: ASYNC110 - waiting for the server to listen
                await asyncio.sleep(0.05)
        yield engine
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("flavour", ["elasticsearch", "opensearch"])
async def test_basic_auth_over_verified_tls(flavour: str, tmp_path: Path) -> None:
    async with stand_in_engine(tmp_path) as stand_in:
        engine = connect_engine(
            SearchSettings(
                engine=flavour,  # type: ignore[arg-type]
                elasticsearch_url=stand_in.url,
                elasticsearch_ca_file=stand_in.ca_file,
                elasticsearch_username="parley",
                elasticsearch_password="engine-secret",
            )
        )
        try:
            assert (await engine.info())["cluster_name"] == "parley-test"
        finally:
            await engine.close()
    assert stand_in.authorizations == ["Basic cGFybGV5OmVuZ2luZS1zZWNyZXQ="]


@pytest.mark.parametrize("flavour", ["elasticsearch", "opensearch"])
async def test_an_api_key_is_sent_as_such(flavour: str, tmp_path: Path) -> None:
    async with stand_in_engine(tmp_path) as stand_in:
        engine = connect_engine(
            SearchSettings(
                engine=flavour,  # type: ignore[arg-type]
                elasticsearch_url=stand_in.url,
                elasticsearch_ca_file=stand_in.ca_file,
                elasticsearch_api_key="aWQ6a2V5",
            )
        )
        try:
            await engine.info()
        finally:
            await engine.close()
    assert stand_in.authorizations == ["ApiKey aWQ6a2V5"]


@pytest.mark.parametrize("flavour", ["elasticsearch", "opensearch"])
async def test_a_certificate_from_an_unknown_ca_is_refused(flavour: str, tmp_path: Path) -> None:
    async with stand_in_engine(tmp_path) as stand_in:
        # Verification is on by default; without the CA file the system CAs do not know it.
        engine = connect_engine(
            SearchSettings(engine=flavour, elasticsearch_url=stand_in.url)  # type: ignore[arg-type]
        )
        try:
            with pytest.raises(Exception) as raised:  # noqa: PT011 - each client has its own
                await engine.info()
        finally:
            await engine.close()
    assert verification_failed(raised.value), repr(raised.value)
    assert stand_in.authorizations == []


def verification_failed(error: BaseException | None) -> bool:
    """Whether a certificate verification failure is somewhere in the chain of `error`."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            error
        ):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False
