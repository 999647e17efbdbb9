"""The error contract: each status the API promises comes as an RFC 9457 problem document."""

import pytest
from e2e_factories import close, member_of, tenant_with_owner

from parley_client import ParleyClient

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


def assert_problem(response_status: int, content_type: str, body: dict[str, object]) -> None:
    assert content_type.startswith(PROBLEM)
    assert body["status"] == response_status
    assert body["title"]
    assert str(body["type"])


async def test_every_error_status_is_a_problem_document(gateway: str) -> None:
    ada = await tenant_with_owner(gateway)
    bob = await member_of(gateway, ada, "bob")
    anonymous = ParleyClient(gateway)
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="t")
        responses = {
            401: await anonymous.raw("GET", "/v1/conversations"),
            403: await bob.client.raw(
                "PUT", f"/v1/users/{ada.user_id}/roles", json={"roles": ["member"]}
            ),
            404: await bob.client.raw("GET", "/v1/conversations/000000000000000000000000"),
            409: await anonymous.raw(
                "POST",
                "/v1/auth/signup",
                json={
                    "tenant": ada.tenant,
                    "username": "bob",
                    "email": "other@example.com",
                    "password": "long enough pw",
                },
            ),
            413: await ada.client.raw(
                "POST",
                f"/v1/conversations/{group.id}/messages",
                content=b'{"content":"' + b"a" * 70_000 + b'"}',
                headers={"content-type": "application/json"},
            ),
            422: await ada.client.raw(
                "POST",
                f"/v1/conversations/{group.id}/messages",
                json={"content": "   ", "metadata": {"a.b": 1}},
            ),
        }
        for _ in range(5):
            await anonymous.raw(
                "POST",
                "/v1/auth/login",
                json={"tenant": ada.tenant, "login": "bob", "password": "wrong password"},
            )
        responses[429] = await anonymous.raw(
            "POST",
            "/v1/auth/login",
            json={"tenant": ada.tenant, "login": "bob", "password": "wrong password"},
        )
        over_limit = await ada.client.raw(
            "GET", f"/v1/conversations/{group.id}/messages", params={"limit": 101}
        )
    finally:
        await anonymous.aclose()
        await close(ada, bob)
    for status, response in responses.items():
        assert response.status_code == status, (status, response.text)
        assert_problem(status, response.headers["content-type"], response.json())
    assert responses[422].json()["errors"]
    assert int(responses[429].headers["retry-after"]) >= 1
    assert over_limit.status_code == 422
