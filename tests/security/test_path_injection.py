"""Every path parameter of every documented operation, sent hostile the way an attacker's own
client would send it (no normalisation on the way): dot segments plain and encoded, encoded
separators, `?` and `#`, control characters, bad UTF-8, overlong values. The caller is the
victim tenant's owner, a member of the conversation: the most an insider can do. Each try is
refused with a 4xx problem and nothing reaches an internal route (those answer 200 with data
to a GET, 405 to anything else; neither ever comes back)."""

from urllib.parse import quote

import httpx
import pytest
from security_world import PROBLEM, World, call

from parley_kit.openapi import operations

pytestmark = pytest.mark.e2e

REFUSED = {400, 404, 422}


def hostile_values(world: World, name: str) -> list[str]:
    """Raw (as sent) values of path parameter `name`, each of which must be refused (an
    almost-id such as an upper-case one is still a fine reaction emoji)."""
    cid, tid, uid = world.conversation_id, world.ada.tenant, world.ada.user_id
    return (
        [
            "..",
            ".",
            "%2e%2e",
            "%2E%2E",
            "%2e",
            ".%2e",
            "..%2F..%2Finternal%2Fv1%2Fmessages:export",
            "..%2f..%2f..%2finternal%2fv1%2fmessages:export%3flimit=1000%23",
            f"..%2F..%2Finternal%2Fv1%2Ftenants%2F{tid}%2Fusers%2F{uid}%2Fconversations",
            "%2Finternal%2Fv1%2Fmessages:export",
            "%5C..%5C..%5Cinternal",
            "%2F",
            f"{cid}%2F..",
            f"{cid}%3F",
            f"{cid}%3Fafter_seq=0",
            f"{cid}%23",
            f"{cid}%23x",
            f"{cid}%00",
            f"{cid}%0A",
            f"{cid}%0D%0AX-Injected:%201",
            f"{cid}%09",
            f"{cid}%7F",
            f"{cid}%20",
            "%C0%AE%C0%AE",  # overlong UTF-8 for ".."
            "%FF%FE",
            "%E2%80%AE",  # right-to-left override
            "%ED%A0%80",  # an encoded lone surrogate
            f"{cid}-1" * 40,
            "a" * 5000,
            "%24where",
            "%7B%22%24gt%22:%22%22%7D",
        ]
        + ([] if name == "emoji" else [cid.upper(), cid + "0", cid[:-1], f"{cid}-01", "0"])
    )


def literal_traversals(world: World) -> list[str]:
    """Whole targets with plain `..` segments, which a normalising hop would resolve."""
    cid = world.conversation_id
    return [
        f"/v1/conversations/{cid}/../../internal/v1/messages:export",
        f"/v1/conversations/{cid}/messages/../../../internal/v1/messages:export",
        "/v1/../internal/v1/messages:export",
        f"/api/conversations/{cid}/../../internal/v1/messages:export",
        "/internal/v1/messages:export",
        f"/internal/v1/tenants/{world.ada.tenant}/users/{world.ada.user_id}/conversations",
        "/internal/v1/users:authz",
    ]


def templates_with_parameters(document: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    found = []
    for path, method, operation in operations(document):  # type: ignore[arg-type]
        names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]
        if names:
            found.append((method.upper(), path, names))
    return found


def fill(template: str, world: World, name: str, raw: str) -> str:
    values = {
        "conversation_id": world.conversation_id,
        "message_id": world.message_id,
        "user_id": world.bob.user_id,
        "emoji": quote(world.emoji, safe=""),
        "session_id": world.session_id(world.bob),
    }
    path = template
    for key, value in values.items():
        path = path.replace(f"{{{key}}}", raw if key == name else value)
    assert "{" not in path, f"{template}: a parameter this test has no value for"
    return path


BODIES = {
    "PUT /v1/users/{user_id}/roles": {"roles": ["member"]},
    "PATCH /v1/conversations/{conversation_id}": {"title": "t"},
    "POST /v1/conversations/{conversation_id}/members": {"user_ids": []},
    "POST /v1/conversations/{conversation_id}/read": {"seq": 1},
    "POST /v1/conversations/{conversation_id}/messages": {"content": "c"},
    "PATCH /v1/conversations/{conversation_id}/messages/{message_id}": {"content": "c"},
}


async def test_every_path_parameter_refuses_hostile_values(world: World) -> None:
    token = world.token(world.ada)
    wrong: list[str] = []
    tried = 0
    async with httpx.AsyncClient(base_url=world.gateway, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
        for method, template, names in templates_with_parameters(document):
            for name in names:
                for raw in hostile_values(world, name):
                    target = fill(template, world, name, raw)
                    body = BODIES.get(f"{method} {template}")
                    response = await call(http, method, target, token=token, body=body)
                    tried += 1
                    if (
                        response.status_code not in REFUSED
                        or not response.headers.get("content-type", "").startswith(PROBLEM)
                        or world.leaks(response)
                    ):
                        wrong.append(f"{method} {target[:120]}: {response.status_code}")
        for target in literal_traversals(world):
            for method in ("GET", "POST"):
                response = await call(http, method, target, token=token, body={})
                tried += 1
                if response.status_code not in REFUSED or world.leaks(response):
                    wrong.append(f"{method} {target}: {response.status_code}")
    assert wrong == []
    assert tried > 500


async def test_ids_in_legacy_bodies_are_ids(world: World) -> None:
    """`POST /api/messages` takes its conversation id from the body: the same rule holds."""
    token = world.token(world.ada)
    values = [
        "../../internal/v1/messages:export?",
        f"{world.conversation_id}/../../../internal/v1/messages:export#",
        f"{world.conversation_id}?x=",
        f"{world.conversation_id}#",
        f"{world.conversation_id}\x00",
        f"{world.conversation_id}\n",
        "%2e%2e%2f%2e%2e",
        "a" * 5000,
    ]
    async with httpx.AsyncClient(base_url=world.gateway, timeout=30) as http:
        statuses = {
            value: (
                await call(
                    http,
                    "POST",
                    "/api/messages",
                    token=token,
                    body={"conversationId": value, "content": "x"},
                )
            ).status_code
            for value in values
        }
    assert set(statuses.values()) == {422}, statuses
