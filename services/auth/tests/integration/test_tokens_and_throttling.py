"""Access tokens verify with the JWKS alone; throttling blocks and then lets the user back in."""

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from auth_factories import make_settings, tenant_body

from parley_auth.main import create_app
from parley_kit.testing.stack import Isolation, StackUrls
from parley_kit.tokens import InvalidToken, JwksVerifier

pytestmark = pytest.mark.integration


def verifier_for(auth: httpx.AsyncClient, audience: str = "parley") -> JwksVerifier:
    return JwksVerifier(
        "http://auth/.well-known/jwks.json", issuer="parley-auth", audience=audience, http=auth
    )


def forge(token: str, header: dict[str, str], claims_update: dict[str, object]) -> str:
    _, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{encode(header)}.{encode(claims | claims_update)}."


async def test_tokens_verify_with_only_the_jwks_and_forgeries_fail(auth: httpx.AsyncClient) -> None:
    created = (await auth.post("/v1/tenants", json=tenant_body("jwks"))).json()
    token = created["tokens"]["access_token"]
    jwks = (await auth.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(token)["kid"]

    claims = await verifier_for(auth).verify(token)
    assert claims.user_id == created["user"]["id"]
    assert claims.tenant_id == created["tenant"]["id"]
    assert kid in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"]), "no private part is published"

    with pytest.raises(InvalidToken):
        await verifier_for(auth).verify(forge(token, {"alg": "none", "kid": kid}, {}))
    public_jwk = jwks["keys"][0]
    public_pem = jwt.PyJWK.from_dict(public_jwk).key.public_bytes(  # type: ignore[union-attr]
        encoding=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
        ).Encoding.PEM,
        format=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]
        ).PublicFormat.SubjectPublicKeyInfo,
    )
    hs256 = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False})},
        base64.b64encode(public_pem).decode(),
        algorithm="HS256",
        headers={"kid": kid},
    )
    with pytest.raises(InvalidToken):
        await verifier_for(auth).verify(hs256)
    with pytest.raises(InvalidToken):
        await verifier_for(auth, audience="another-service").verify(token)


async def test_expired_access_token_is_rejected(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    app = create_app(make_settings(stack_urls, isolation))
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as auth,
    ):
        created = (await auth.post("/v1/tenants", json=tenant_body("expiry"))).json()
        claims = jwt.decode(created["tokens"]["access_token"], options={"verify_signature": False})
        past = int(time.time()) - 3600
        # Signed by auth's own current key, only its lifetime is over.
        expired = app.state.signing_keys.sign(claims | {"iat": past - 900, "exp": past})

        with pytest.raises(InvalidToken, match=r"(?i)expired"):
            await verifier_for(auth).verify(expired)
        assert (
            await auth.get("/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
        ).status_code == 401


@pytest.fixture
async def throttled_auth(
    stack_urls: StackUrls, isolation: Isolation
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        stack_urls, isolation, login_failures_per_login=3, login_failure_window_seconds=2
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth") as client,
    ):
        yield client


async def test_throttling_returns_429_then_lets_the_user_in_after_the_window(
    throttled_auth: httpx.AsyncClient,
) -> None:
    auth = throttled_auth
    await auth.post("/v1/tenants", json=tenant_body("throttle"))
    wrong = {"tenant": "throttle", "login": "owner", "password": "wrong-pass-1"}
    right = {"tenant": "throttle", "login": "owner", "password": "owner-pass-1"}

    statuses = [(await auth.post("/v1/auth/login", json=wrong)).status_code for _ in range(3)]
    blocked = await auth.post("/v1/auth/login", json=right)

    assert statuses == [401, 401, 401]
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 2

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if (await auth.post("/v1/auth/login", json=right)).status_code == 200:
            break
    else:
        pytest.fail("the login stayed blocked after the window")
