"""The suite as processes (the e2e `ProcessSuite`) with names of its own and an auth signing key
the tests hold, so they can forge tokens that differ from real ones in one claim only."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e_suite import ProcessSuite
from security_world import World, build_world

from parley_kit.testing.plugin import drop_everything
from parley_kit.testing.stack import Isolation, StackUrls, repo_root


class SecuritySuite(ProcessSuite):
    """The e2e process suite with auth signing with a key file the tests can read."""

    def __init__(self, urls: StackUrls, names: Isolation, log_dir: Path, key_file: Path) -> None:
        super().__init__(urls, names, log_dir)
        self.key_file = key_file

    def environment(self, service: str) -> dict[str, str]:
        values = super().environment(service)
        if service == "auth":
            values["PARLEY_AUTH_SIGNING_KEY_FILE"] = str(self.key_file)
        if service == "gateway":
            # A few users send thousands of hostile requests here: the per-user rate limit
            # stays on but out of the way (its own tests live with the gateway).
            values |= {"PARLEY_GATEWAY_USER_BURST": "1000000"}
        return values


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
async def security_names(stack_urls: StackUrls) -> AsyncIterator[Isolation]:
    """Names of this folder's own (not the e2e session's: two suites on one set of names
    would share a consumer group and a database)."""
    names = Isolation.new()
    yield names
    await asyncio.wait_for(drop_everything(stack_urls, names), 60)


@pytest.fixture(scope="session")
def security_suite(
    stack_urls: StackUrls,
    security_names: Isolation,
    signing_key: rsa.RSAPrivateKey,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecuritySuite]:
    key_file = tmp_path_factory.mktemp("keys") / "signing.pem"
    key_file.write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    suite = SecuritySuite(
        stack_urls,
        security_names,
        repo_root() / ".stack" / "logs" / f"security-{security_names.name}",
        key_file,
    )
    try:
        suite.start_all()
        yield suite
    finally:
        suite.stop_all()


@pytest.fixture(scope="session")
def gateway(security_suite: SecuritySuite) -> str:
    return security_suite.gateway_url


@pytest.fixture(scope="session")
async def world(gateway: str) -> World:
    """One victim tenant with a private conversation and attackers around it, shared by the
    read-only tests of this folder (each destructive test builds its own people)."""
    return await build_world(gateway)
