"""Token attacks through the gateway, on HTTP and on sockets.

The suite's auth signs with a key this test holds, so each forged token differs from a real
one in exactly one respect; a control token forged the same way with nothing wrong is
accepted, which shows that each refusal is about that one respect. Then the session attacks:
a spent refresh token, and an admin's token after the admin was demoted (the roles in a token
are not the roles the caller has; the store's are)."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e_factories import PASSWORD, member_of, tenant_with_owner
from redis.asyncio import Redis
from security_world import World

from parley_client import ParleySocket, SocketRefused
from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.e2e


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def claims_of(world: World) -> dict[str, Any]:
    """The claims a real token of ada has, fresh."""
    async with httpx.AsyncClient(base_url=world.gateway, timeout=10) as http:
        me = (
            await http.get(
                "/v1/auth/me", headers={"authorization": f"Bearer {world.token(world.ada)}"}
            )
        ).json()
    now = int(time.time())
    return {
        "sub": me["id"],
        "tid": me["tenant_id"],
        "roles": me["roles"],
        "av": 0,
        "username": me["username"],
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": "parley-auth",
        "aud": "parley",
    }


async def real_kid(gateway: str) -> str:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    (key,) = keys
    kid: str = key["kid"]
    return kid


def signed(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str | None) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def unsigned(claims: dict[str, Any], kid: str) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str) -> str:
    """HS256 "signed" with the public key as the secret: the classic algorithm confusion."""
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def tampered(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64(json.dumps(claims | changes).encode())}.{signature}"


async def http_status(gateway: str, token: str) -> tuple[int, int]:
    """(auth's `/v1/auth/me`, messaging's `/v1/conversations`) with `token`."""
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        me = await http.get("/v1/auth/me", headers=headers)
        conversations = await http.get("/v1/conversations", headers=headers)
    return me.status_code, conversations.status_code


async def socket_accepted(gateway: str, token: str) -> bool:
    socket = ParleySocket(gateway, token)
    try:
        await socket.connect()
    except SocketRefused:
        return False
    await socket.disconnect()
    return True


async def test_forged_tokens_are_refused_and_a_faithful_forgery_is_not(
    world: World, signing_key: rsa.RSAPrivateKey
) -> None:
    kid = await real_kid(world.gateway)
    claims = await claims_of(world)
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    control = signed(signing_key, claims, kid)
    attacks = {
        "alg none": unsigned(claims, kid),
        "HS256 with the public key": hs256_with_public_key(signing_key, claims, kid),
        "foreign key, real kid": signed(foreign, claims, kid),
        "foreign key, own kid": signed(foreign, claims, "attacker"),
        "no kid": signed(signing_key, claims, None),
        "expired": signed(signing_key, claims | {"iat": now - 7200, "exp": now - 3600}, kid),
        "wrong audience": signed(signing_key, claims | {"aud": "someone-else"}, kid),
        "wrong issuer": signed(signing_key, claims | {"iss": "evil"}, kid),
        "no expiry": signed(signing_key, {k: v for k, v in claims.items() if k != "exp"}, kid),
        "roles raised after signing": tampered(control, roles=["owner", "admin"]),
        "another tenant after signing": tampered(control, tid="65f0c0ffee0123456789abce"),
        "a user that does not exist": signed(
            signing_key, claims | {"sub": "65f0c0ffee0123456789abcd"}, kid
        ),
        "garbage": "not.a.token",
    }
    assert await http_status(world.gateway, control) == (200, 200)
    assert await socket_accepted(world.gateway, control)
    results = {name: await http_status(world.gateway, token) for name, token in attacks.items()}
    sockets = {name: await socket_accepted(world.gateway, token) for name, token in attacks.items()}
    assert {name: r for name, r in results.items() if r != (401, 401)} == {}
    assert {name for name, accepted in sockets.items() if accepted} == set()


async def test_a_spent_refresh_token_ends_the_session(gateway: str) -> None:
    owner = await tenant_with_owner(gateway, "rita")
    spent = owner.client.refresh_token
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
        first = await http.post("/v1/auth/refresh", json={"refresh_token": spent})
        replayed = await http.post("/v1/auth/refresh", json={"refresh_token": spent})
        successor = await http.post(
            "/v1/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}
        )
    assert first.status_code == 200
    assert replayed.status_code == 401
    assert successor.status_code == 401  # the replay revoked the whole family


async def test_a_demoted_admins_old_token_loses_the_admins_powers_at_once(
    gateway: str, stack_urls: StackUrls, security_names: Isolation
) -> None:
    """Promote bob to tenant admin, let him delete a message that is not his, demote him: his
    admin token is refused on the next request (HTTP and socket), the message he tries to
    delete next stays, he cannot promote himself back, and only a refreshed (member) token
    works, with a member's powers."""
    ada = await tenant_with_owner(gateway, "ada")
    bob = await member_of(gateway, ada, "bob")
    carol = await member_of(gateway, ada, "carol")
    group = await carol.client.create_conversation("group", [bob.user_id], title="carol's")
    first = await carol.client.send_message(group.id, "one")
    second = await carol.client.send_message(group.id, "two")
    member_token = bob.client.access_token
    assert member_token is not None

    async def as_bob(token: str, method: str, path: str, body: Any = None) -> int:
        async with httpx.AsyncClient(base_url=gateway, timeout=10) as http:
            response = await http.request(
                method, path, json=body, headers={"authorization": f"Bearer {token}"}
            )
        return response.status_code

    def message_path(message_id: str) -> str:
        return f"/v1/conversations/{group.id}/messages/{message_id}"

    roles_path = f"/v1/users/{bob.user_id}/roles"
    await ada.client.set_roles(bob.user_id, ["admin"])
    member_token_after_promotion = await as_bob(member_token, "GET", "/v1/auth/me")
    admin = await bob.client.refresh()
    admin_deletes_first = await as_bob(admin.access_token, "DELETE", message_path(first.id))

    await ada.client.set_roles(bob.user_id, ["member"])
    demoted_deletes_second = await as_bob(admin.access_token, "DELETE", message_path(second.id))
    demoted_promotes_himself = await as_bob(
        admin.access_token, "PUT", roles_path, {"roles": ["admin"]}
    )
    demoted_socket = await socket_accepted(gateway, admin.access_token)

    # A flushed Redis copy of the version is read back from the store: still refused.
    redis = Redis.from_url(stack_urls.redis_url)
    me = await bob.client.me()
    await redis.delete(f"{security_names.redis_prefix}authz:{me.tenant_id}:{bob.user_id}")
    await redis.aclose()
    after_flush = await as_bob(admin.access_token, "DELETE", message_path(second.id))

    member = await bob.client.refresh()
    member_deletes_second = await as_bob(member.access_token, "DELETE", message_path(second.id))
    member_promotes_himself = await as_bob(
        member.access_token, "PUT", roles_path, {"roles": ["admin"]}
    )
    relogged = await bob.client.login(ada.tenant, "bob", PASSWORD)
    still_member = await bob.client.me()
    remaining = await carol.client.get_message(group.id, second.id)

    assert member_token_after_promotion == 401  # any role change outdates older tokens
    assert admin_deletes_first == 204
    assert demoted_deletes_second == 401
    assert demoted_promotes_himself == 401
    assert not demoted_socket
    assert after_flush == 401
    assert member_deletes_second == 403
    assert member_promotes_himself == 403
    assert relogged.access_token
    assert still_member.roles == ["member"]
    assert (remaining.content, remaining.deleted) == ("two", False)
