"""Every conversation and message route answers 404 to other tenants and to non-members."""

import pytest
from messaging_factories import Person, make_group, make_tenant, send
from messaging_suite import Suite

pytestmark = pytest.mark.integration


def routes(conversation: str, message: str) -> list[tuple[str, str, dict[str, object] | None]]:
    base = f"/v1/conversations/{conversation}"
    return [
        ("GET", base, None),
        ("PATCH", base, {"title": "pwned"}),
        ("POST", f"{base}/members", {"user_ids": ["someone"]}),
        ("DELETE", f"{base}/members/someone", None),
        ("POST", f"{base}/read", {"seq": 1}),
        ("POST", f"{base}/messages", {"content": "intrusion"}),
        ("GET", f"{base}/messages", None),
        ("GET", f"{base}/messages?after_seq=0", None),
        ("GET", f"{base}/messages/{message}", None),
        ("GET", f"{base}/messages/{message}/replies", None),
        ("PATCH", f"{base}/messages/{message}", {"content": "edited"}),
        ("DELETE", f"{base}/messages/{message}", None),
        ("PUT", f"{base}/messages/{message}/reactions/x", None),
        ("DELETE", f"{base}/messages/{message}/reactions/x", None),
    ]


async def assert_all_404(suite: Suite, intruder: Person, conversation: str, message: str) -> None:
    for method, path, body in routes(conversation, message):
        response = await suite.messaging.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_other_tenants_get_404_everywhere(suite: Suite) -> None:
    owner, ann = await make_tenant(suite.auth, "ann")
    intruder, _ = await make_tenant(suite.auth, "ann")  # same usernames, other tenant
    conversation = await make_group(suite.messaging, owner, ann)
    message = (await send(suite.messaging, owner, conversation, "secret")).json()["id"]

    await assert_all_404(suite, intruder, conversation, message)
    listed = (await suite.messaging.get("/v1/conversations", headers=intruder.headers)).json()
    assert listed["items"] == []


async def test_non_members_of_the_same_tenant_get_404_everywhere(suite: Suite) -> None:
    owner, ann, outsider = await make_tenant(suite.auth, "ann", "outsider")
    conversation = await make_group(suite.messaging, owner, ann)
    message = (await send(suite.messaging, owner, conversation, "secret")).json()["id"]

    await assert_all_404(suite, outsider, conversation, message)
    history = await suite.messaging.get(
        f"/v1/conversations/{conversation}/messages", headers=ann.headers
    )
    assert [m["content"] for m in history.json()["items"]] == ["secret"], "nothing was changed"


async def test_malformed_ids_are_404_not_500(suite: Suite) -> None:
    [owner] = await make_tenant(suite.auth)
    for path in ("/v1/conversations/not-an-id", "/v1/conversations/not-an-id/messages/also-not"):
        response = await suite.messaging.get(path, headers=owner.headers)
        assert response.status_code == 404


async def test_internal_routes_refuse_callers_without_the_secret(suite: Suite) -> None:
    [owner] = await make_tenant(suite.auth)
    path = f"/internal/v1/tenants/{owner.tenant_id}/users/{owner.id}/conversations"
    assert (await suite.messaging.get(path, headers=owner.headers)).status_code == 401
    secret = {"X-Parley-Internal-Token": suite.settings.internal_secret.get_secret_value()}
    assert (await suite.messaging.get(path, headers=secret)).json() == {"conversation_ids": []}
