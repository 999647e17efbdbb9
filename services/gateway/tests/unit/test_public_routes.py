"""The public route table and the rules of every upstream call: a path parameter is what it
says or the request goes nowhere; a forwarded path is always a table template with plain
values; the internal secret only ever travels to `/internal/...`; the table matches what the
services serve; the merged OpenAPI document gives every operation its problem responses."""

from typing import Any

import httpx
import pytest

from parley_auth.main import create_app as create_auth
from parley_auth.settings import AuthSettings
from parley_gateway.openapi import PublicDocs
from parley_gateway.routes import ROUTES, NoRoute, fill, match
from parley_gateway.upstreams import Service, Upstreams, plain_path
from parley_kit.identity import INTERNAL_TOKEN_HEADER
from parley_kit.openapi import implied_statuses, operations
from parley_kit.problems import BadRequest, ServiceUnavailable
from parley_messaging.main import create_app as create_messaging
from parley_messaging.settings import MessagingSettings
from parley_search.main import create_app as create_search
from parley_search.settings import SearchSettings

CONVERSATION = "65f0c0ffee0123456789abcd"
VALID = {
    "conversation_id": CONVERSATION,
    "user_id": "65f0c0ffee0123456789abce",
    "message_id": f"{CONVERSATION}-7",
    "emoji": "%F0%9F%91%8D",  # 👍, as a client sends it
    "session_id": "0123456789abcdef0123456789abcdef",
}
# Raw (as sent) segment values that must never pass as any parameter.
HOSTILE = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    "..%2F..%2Finternal%2Fv1%2Fmessages:export",
    "%2F",
    "%5C",
    "%3F",
    "%23",
    f"{CONVERSATION}%3Fx=1",
    f"{CONVERSATION}%23x",
    f"{CONVERSATION}%00",
    f"{CONVERSATION}%0A",
    f"{CONVERSATION}%7F",
    "%ff",
    "%c0%ae%c0%ae",  # overlong UTF-8 for ".."
    "",
    "a" * 5000,
]


def raw_path(template: str, values: dict[str, str]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def test_each_route_forwards_its_template_with_plain_values() -> None:
    for route in ROUTES:
        for method in route.operations:
            matched = match(method, raw_path(route.template, VALID))
            assert matched.route is route
            assert matched.errors == []
            upstream = matched.upstream_path()
            assert plain_path(upstream) == upstream
            assert not upstream.startswith("/internal")


def test_every_path_parameter_refuses_every_hostile_value() -> None:
    tried = 0
    for route in ROUTES:
        for name in route.parameters:
            for hostile in HOSTILE:
                values = VALID | {name: hostile}
                for method in route.operations:
                    matched = match(method, raw_path(route.template, values))
                    assert [e.loc for e in matched.errors] == [f"path.{name}"], (route, hostile)
                    tried += 1
    assert tried > 300


def test_paths_outside_the_table_match_nothing() -> None:
    for path in (
        "/internal/v1/messages:export",
        "/v1/conversations/../../internal/v1/messages:export",
        f"/v1/conversations/{CONVERSATION}/../../../internal/v1/messages:export",
        "/v1/conversationsX",
        "/v1//conversations",
        "/v1/%63onversations",
        "/v1/auth/rotate",
        "",
        "v1/conversations",
    ):
        with pytest.raises(NoRoute) as refused:
            match("GET", path)
        assert refused.value.allowed == frozenset(), path
    with pytest.raises(NoRoute) as wrong_method:
        match("DELETE", "/v1/conversations")
    assert wrong_method.value.allowed == {"GET", "POST"}


def test_paths_are_only_built_from_checked_values() -> None:
    assert fill("/v1/conversations/{conversation_id}", {"conversation_id": CONVERSATION}) == (
        f"/v1/conversations/{CONVERSATION}"
    )
    with pytest.raises(ValueError, match="conversation_id"):
        fill("/v1/conversations/{conversation_id}", {"conversation_id": "../../internal"})


def test_plain_paths_only() -> None:
    for path in (
        "/v1/conversations/../internal",
        "/v1/conversations/%2e%2e/internal",
        "/v1/conversations/a%2Fb",
        "/v1/conversations/a%5Cb",
        "/v1/conversations/a%3Fb",
        "/v1/conversations/a%23b",
        "/v1/conversations/a%00b",
        "/v1/conversations/a%ffb",
        "/v1/conversations/a b",
        "/v1/conversations/a?b",
        "/v1//conversations",
        "v1/conversations",
    ):
        with pytest.raises(BadRequest):
            plain_path(path)
    assert plain_path("/internal/v1/users:authz") == "/internal/v1/users:authz"


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[httpx.Request] = []
        self.fail_first = fail_first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.fail_first:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={})


def upstreams(recorder: Recorder) -> Upstreams:
    return Upstreams(
        httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        {s: f"http://{s.value}" for s in Service},
        "secret",
        request_timeout=10,
        search_timeout=5,
    )


async def test_the_internal_secret_goes_to_internal_routes_only() -> None:
    recorder = Recorder()
    table = upstreams(recorder)
    sneaky = {INTERNAL_TOKEN_HEADER: "secret"} | table.internal_headers("identity")
    await table.send(Service.MESSAGING, "GET", f"/v1/conversations/{CONVERSATION}", headers=sneaky)
    await table.send(Service.AUTH, "POST", "/internal/v1/users:authz", headers={})
    public, internal = recorder.requests
    assert INTERNAL_TOKEN_HEADER.lower() not in public.headers
    assert internal.headers[INTERNAL_TOKEN_HEADER] == "secret"
    with pytest.raises(BadRequest):
        await table.send(Service.MESSAGING, "GET", "/v1/conversations/../internal", headers={})
    assert len(recorder.requests) == 2


async def test_an_idempotent_call_on_a_closed_connection_is_retried_once() -> None:
    recorder = Recorder(fail_first=1)
    await upstreams(recorder).send(Service.MESSAGING, "GET", "/v1/conversations", headers={})
    assert len(recorder.requests) == 2
    twice_closed = Recorder(fail_first=2)
    with pytest.raises(ServiceUnavailable):
        await upstreams(twice_closed).send(Service.MESSAGING, "GET", "/v1/users", headers={})
    assert len(twice_closed.requests) == 2
    post = Recorder(fail_first=1)
    with pytest.raises(ServiceUnavailable):
        await upstreams(post).send(Service.MESSAGING, "POST", "/v1/conversations", headers={})
    assert len(post.requests) == 1  # a send is never repeated behind the client's back


def service_documents() -> dict[Service, dict[str, Any]]:
    return {
        Service.AUTH: create_auth(AuthSettings()).openapi(),
        Service.MESSAGING: create_messaging(MessagingSettings()).openapi(),
        Service.SEARCH: create_search(SearchSettings()).openapi(),
    }


def test_the_route_table_is_what_the_services_serve() -> None:
    served = {
        (service, path, method.upper())
        for service, document in service_documents().items()
        for path, method, _ in operations(document)
        if not path.startswith("/internal/")
    }
    table = {
        (route.service, route.template, method) for route in ROUTES for method in route.operations
    }
    assert served - table == set(), "served publicly but missing from the gateway's table"
    assert table - served == set(), "in the gateway's table but served by no service"


async def test_the_merged_document_gives_every_operation_its_problems() -> None:
    documents = service_documents()

    def serve(request: httpx.Request) -> httpx.Response:
        service = Service(request.url.host)
        return httpx.Response(200, json=documents[service])

    table = Upstreams(
        httpx.AsyncClient(transport=httpx.MockTransport(serve)),
        {s: f"http://{s.value}" for s in Service},
        "secret",
        request_timeout=10,
        search_timeout=5,
    )
    gateway_own: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "t"}, "paths": {}}
    merged = await PublicDocs(table, lambda: gateway_own).document()
    anonymous = {route.template for route in ROUTES if route.anonymous}
    checked = 0
    for path, method, operation in operations(merged):
        expected = implied_statuses(operation) | {429}
        if path not in anonymous:
            expected.add(401)
            assert operation["security"] == [{"bearer": []}], (path, method)
        for status in expected:
            response = operation["responses"][str(status)]
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method, status)
        checked += 1
    assert checked == sum(len(route.operations) for route in ROUTES)
    conversation = merged["paths"]["/v1/conversations/{conversation_id}"]["get"]
    (parameter,) = [p for p in conversation["parameters"] if p["in"] == "path"]
    assert parameter["schema"]["pattern"] == "^[0-9a-f]{24}$"
