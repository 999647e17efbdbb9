"""Bad input never gives a 500 (issue 15, item 8): each hostile value through the gateway is a
4xx problem document naming the field, and every number and string the API takes is bounded
in its OpenAPI document (what a generator or an attacker reads first)."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from e2e_factories import close, member_of, tenant_with_owner

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}


def named(response: httpx.Response, loc: str | None = None) -> list[str]:
    """The `loc` of each error of a 4xx problem document (asserting it is one)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM, response.text
    body = response.json()
    assert body["status"] == response.status_code
    locs = [error["loc"] for error in body.get("errors", [])]
    if loc is not None:
        assert loc in locs, (loc, body)
    return locs


@pytest.fixture
async def people(gateway: str) -> Any:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    group = await ada.client.create_conversation("group", [bob.user_id], title="t")
    sent = await ada.client.raw(
        "POST", f"/v1/conversations/{group.id}/messages", json={"content": "hi <b>there</b>"}
    )
    assert sent.status_code == 201
    try:
        yield ada, group.id, sent.json()["id"]
    finally:
        await close(ada, bob)


async def test_hostile_values_are_4xx_problems_naming_the_field(gateway: str, people: Any) -> None:
    ada, conversation, message = people
    raw = ada.client.raw
    messages = f"/v1/conversations/{conversation}/messages"
    reactions = f"{messages}/{message}/reactions"
    deep = b'{"content": "x", "metadata": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}"
    cases: list[tuple[str, Any, str | None]] = [
        (
            "a search date beyond year 9999 once in UTC",
            raw(
                "GET",
                "/v1/search/messages",
                params={"q": "x", "before": "9999-12-31T23:59:59-12:00"},
            ),
            "query.before",
        ),
        (
            "before_seq of 2^63",
            raw("GET", messages, params={"before_seq": str(2**63)}),
            "query.before_seq",
        ),
        (
            "after_seq of 2^64",
            raw("GET", messages, params={"after_seq": str(2**64)}),
            "query.after_seq",
        ),
        (
            "NUL in a metadata key",
            raw("POST", messages, json={"content": "x", "metadata": {"a\x00b": 1}}),
            "body.metadata.a\\u0000b",
        ),
        ("NUL in content", raw("POST", messages, json={"content": "a\x00b"}), "body.content"),
        (
            "a lone surrogate in text",
            raw("POST", messages, content=b'{"content": "x\\ud800y"}', headers=JSON),
            "body.content",
        ),
        ("JSON nested 300 deep", raw("POST", messages, content=deep, headers=JSON), None),
        ("NUL in a reaction emoji", raw("PUT", f"{reactions}/a%00b"), None),
        ("a control character in an emoji", raw("PUT", f"{reactions}/a%01b"), None),
        (
            "a malformed history cursor",
            raw("GET", messages, params={"cursor": "W3t9XQ=="}),
            "query.cursor",
        ),
        (
            "a malformed conversations cursor",
            raw("GET", "/v1/conversations", params={"cursor": "!"}),
            "query.cursor",
        ),
        (
            "a malformed users cursor",
            raw("GET", "/v1/users", params={"cursor": "e30="}),
            "query.cursor",
        ),
        (
            "a malformed search cursor",
            raw("GET", "/v1/search/messages", params={"q": "x", "cursor": "W3t9LHt9LHt9XQ=="}),
            "query.cursor",
        ),
        (
            "a search of quotes only",
            raw("GET", "/v1/search/messages", params={"q": '""'}),
            "query.q",
        ),
        (
            "a read marker beyond any seq",
            raw("POST", f"/v1/conversations/{conversation}/read", json={"seq": 2**63}),
            None,
        ),
    ]
    for name, call, loc in cases:
        response = await call
        try:
            named(response, loc)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error


@pytest.mark.parametrize("segment", ["a%01b", "a%00b", "a%3Fb", "a%23b", "a%3Fx%3D1", "%2e%2e"])
async def test_hostile_legacy_conversation_ids_are_4xx(
    gateway: str, people: Any, segment: str
) -> None:
    ada, _, _ = people
    token = (await ada.client.raw("GET", "/v1/auth/me")).request.headers["authorization"]
    async with httpx.AsyncClient(base_url=gateway, headers={"authorization": token}) as http:
        for path in (
            f"/api/conversations/{segment}",
            f"/api/conversations/{segment}/messages",
            f"/api/conversations/{segment}/messages/search?q=hello",
        ):
            named(await http.get(path))
        named(await http.post("/api/messages", json={"conversationId": "a\x01?#b", "content": "x"}))


async def test_highlights_through_the_gateway_keep_only_em_as_markup(
    gateway: str, people: Any
) -> None:
    ada, conversation, _ = people
    hostile = "watch <img src=x onerror=alert(1)> this"
    sent = await ada.client.raw(
        "POST", f"/v1/conversations/{conversation}/messages", json={"content": hostile}
    )
    assert sent.status_code == 201
    for _ in range(100):
        found = (await ada.client.raw("GET", "/v1/search/messages", params={"q": "onerror"})).json()
        if found["items"]:
            break
        await asyncio.sleep(0.1)
    (item,) = found["items"]
    for fragment in item["highlights"]:
        markup = fragment.replace("<em>", "").replace("</em>", "")
        assert "<" not in markup, fragment
    assert "&lt;img" in " ".join(item["highlights"])


def unbounded(schema: dict[str, Any], components: dict[str, Any], where: str) -> list[str]:
    """Integers without a maximum and strings without a length, pattern, enum or format."""
    found: list[str] = []
    stack = [(schema, where)]
    while stack:
        node, here = stack.pop()
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        for key in ("anyOf", "oneOf", "allOf"):
            stack.extend((sub, here) for sub in node.get(key, []))
        kind = node.get("type")
        if kind == "integer" and not {"maximum", "exclusiveMaximum"} & node.keys():
            found.append(f"{here}: an integer without a maximum")
        if (
            kind == "string"
            and not {"maxLength", "enum", "const", "format", "pattern"} & node.keys()
        ):
            found.append(f"{here}: a string without a bound")
        stack.extend((sub, f"{here}.{name}") for name, sub in node.get("properties", {}).items())
        if isinstance(node.get("items"), dict):
            stack.append((node["items"], f"{here}[]"))
    return found


async def test_every_number_and_string_the_api_takes_is_bounded(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        document = (await http.get("/openapi.json")).json()
    components = document.get("components", {}).get("schemas", {})
    found: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                where = f"{label} {parameter['in']}.{parameter['name']}"
                found += unbounded(parameter.get("schema", {}), components, where)
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                found += unbounded(media.get("schema", {}), components, f"{label} body")
    assert not found, json.dumps(found, indent=1)
