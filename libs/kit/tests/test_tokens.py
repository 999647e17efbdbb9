"""The JWKS verifier accepts only asymmetric tokens of our issuer and audience."""

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from parley_kit.tokens import InvalidToken, JwksVerifier, KeysUnavailable, bearer_token

ISSUER = "parley-auth"
AUDIENCE = "parley"


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "alg": "RS256", "use": "sig"}


def make_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": "u1",
        "tid": "t1",
        "roles": ["member"],
        "username": "ada",
        "iat": now,
        "exp": now + 900,
        "jti": "j1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return claims | overrides


def sign(key: rsa.RSAPrivateKey, kid: str, **overrides: Any) -> str:
    return jwt.encode(make_claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


class JwksServer:
    """An httpx transport serving a JWKS document and counting fetches."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": self.keys})


def make_verifier(server: JwksServer) -> JwksVerifier:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    return JwksVerifier(
        "http://auth/.well-known/jwks.json", issuer=ISSUER, audience=AUDIENCE, http=http
    )


async def test_a_valid_token_yields_its_claims() -> None:
    key = make_key()
    verifier = make_verifier(JwksServer([jwk_of(key, "k1")]))

    claims = await verifier.verify(sign(key, "k1"))

    assert (claims.user_id, claims.tenant_id, claims.username) == ("u1", "t1", "ada")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_rejected() -> None:
    key = make_key()
    verifier = make_verifier(JwksServer([jwk_of(key, "k1")]))
    unsigned = f"{b64({'alg': 'none', 'kid': 'k1', 'typ': 'JWT'})}.{b64(make_claims())}."

    with pytest.raises(InvalidToken, match="not accepted"):
        await verifier.verify(unsigned)


async def test_hs256_signed_with_the_public_key_is_rejected() -> None:
    key = make_key()
    verifier = make_verifier(JwksServer([jwk_of(key, "k1")]))
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = base64.urlsafe_b64encode(public_pem).decode()
    token = jwt.encode(make_claims(), forged, algorithm="HS256", headers={"kid": "k1"})

    with pytest.raises(InvalidToken, match="not accepted"):
        await verifier.verify(token)


async def test_expired_token_is_rejected() -> None:
    key = make_key()
    verifier = make_verifier(JwksServer([jwk_of(key, "k1")]))
    past = int(time.time()) - 3600

    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(sign(key, "k1", iat=past - 900, exp=past))


async def test_token_for_another_audience_is_rejected() -> None:
    key = make_key()
    verifier = make_verifier(JwksServer([jwk_of(key, "k1")]))

    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        await verifier.verify(sign(key, "k1", aud="someone-else"))


async def test_token_of_another_issuer_is_rejected() -> None:
    key = make_key()
    verifier = make_verifier(JwksServer([jwk_of(key, "k1")]))

    with pytest.raises(InvalidToken, match=r"(?i)issuer"):
        await verifier.verify(sign(key, "k1", iss="evil"))


async def test_token_signed_by_an_unknown_key_is_rejected() -> None:
    published, attacker = make_key(), make_key()
    verifier = make_verifier(JwksServer([jwk_of(published, "k1")]))

    with pytest.raises(InvalidToken, match=r"[Ss]ignature"):
        await verifier.verify(sign(attacker, "k1"))


async def test_keys_are_cached_between_verifications() -> None:
    key = make_key()
    server = JwksServer([jwk_of(key, "k1")])
    verifier = make_verifier(server)

    for _ in range(5):
        await verifier.verify(sign(key, "k1"))

    assert server.fetches == 1


async def test_a_key_published_right_after_a_fetch_is_accepted_at_once() -> None:
    old, new = make_key(), make_key()
    server = JwksServer([jwk_of(old, "k1")])
    verifier = make_verifier(server)
    await verifier.verify(sign(old, "k1"))
    server.keys = [jwk_of(old, "k1"), jwk_of(new, "k2")]  # promoted a moment later

    claims = await verifier.verify(sign(new, "k2"))

    assert claims.user_id == "u1"
    assert server.fetches == 2


async def test_tokens_of_an_unknown_key_arriving_together_share_one_fetch() -> None:
    old, new = make_key(), make_key()
    server = JwksServer([jwk_of(old, "k1")])
    verifier = make_verifier(server)
    await verifier.verify(sign(old, "k1"))
    server.keys = [jwk_of(old, "k1"), jwk_of(new, "k2")]

    results = await asyncio.gather(*(verifier.verify(sign(new, "k2")) for _ in range(20)))

    assert len(results) == 20
    assert server.fetches == 2


async def test_a_made_up_key_id_is_refused_after_a_fetch() -> None:
    key, attacker = make_key(), make_key()
    server = JwksServer([jwk_of(key, "k1")])
    verifier = make_verifier(server)
    await verifier.verify(sign(key, "k1"))

    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(sign(attacker, "made-up"))
    assert server.fetches == 2


async def test_a_retiring_key_verifies_until_its_expiry_and_nothing_after() -> None:
    retiring, expired = make_key(), make_key()
    now = int(time.time())
    server = JwksServer(
        [jwk_of(retiring, "k1") | {"exp": now + 600}, jwk_of(expired, "k0") | {"exp": now - 1}]
    )
    verifier = make_verifier(server)

    await verifier.verify(sign(retiring, "k1"))
    with pytest.raises(InvalidToken, match="retired"):
        await verifier.verify(sign(expired, "k0"))
    assert server.fetches == 1  # the expiry decides; no refetch can revive a retiring key


async def test_a_staged_key_that_signs_brings_the_expiry_of_the_key_it_replaced() -> None:
    old, new = make_key(), make_key()
    server = JwksServer([jwk_of(old, "k1"), jwk_of(new, "k2") | {"state": "staged"}])
    verifier = make_verifier(server)
    await verifier.verify(sign(old, "k1"))
    gone = int(time.time()) - 1  # promoted, and the old key's tokens all expired since
    server.keys = [jwk_of(old, "k1") | {"state": "retiring", "exp": gone}, jwk_of(new, "k2")]

    await verifier.verify(sign(new, "k2"))  # answered at once, the refetch beside
    for _ in range(100):
        if server.fetches == 2:
            break
        await asyncio.sleep(0.01)

    assert server.fetches == 2
    with pytest.raises(InvalidToken, match="retired"):
        await verifier.verify(sign(old, "k1"))


async def test_a_stale_cache_answers_with_the_known_key_while_auth_is_down() -> None:
    key = make_key()
    server = JwksServer([jwk_of(key, "k1")])
    http = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    verifier = JwksVerifier(
        "http://auth/.well-known/jwks.json",
        issuer=ISSUER,
        audience=AUDIENCE,
        http=http,
        cache_seconds=0.0,
    )
    await verifier.verify(sign(key, "k1"))
    server.down = True

    claims = await verifier.verify(sign(key, "k1"))

    assert claims.user_id == "u1"


async def test_jwks_unreachable_without_cache_is_reported_as_unavailable() -> None:
    key = make_key()
    server = JwksServer([])
    server.down = True
    verifier = make_verifier(server)

    with pytest.raises(KeysUnavailable):
        await verifier.verify(sign(key, "k1"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_bearer_token_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected
