"""Intranet email domains (`.local`, `.internal`, `.test`) at signup and tenant creation: the
deployment's setting, a tenant's own choice over it, and the names that stay refused."""

import uuid
from typing import Any

import httpx
import pytest
from auth_factories import make_settings, running_auth, signup_body, tenant_body

from parley_kit.testing.stack import Isolation, StackUrls

pytestmark = pytest.mark.integration


def slug() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def owned_tenant(email: str, **extra: Any) -> dict[str, Any]:
    body = tenant_body(slug(), **extra)
    body["owner"]["email"] = email
    return body


def member(tenant: str, username: str, email: str) -> dict[str, Any]:
    return signup_body(tenant, username) | {"email": email}


def error_locs(response: httpx.Response) -> list[str]:
    return [error["loc"] for error in response.json().get("errors", [])]


async def test_intranet_addresses_are_accepted_by_default(auth: httpx.AsyncClient) -> None:
    created = await auth.post("/v1/tenants", json=owned_tenant("boss@corp.local"))
    tenant = created.json()["tenant"]
    members = [
        await auth.post("/v1/auth/signup", json=member(tenant["slug"], name, email))
        for name, email in [
            ("ann", "ann@corp.local"),
            ("bob", "bob@build.internal"),
            ("cy", "cy@qa.test"),
            ("dee", "DEE@Corp.LOCAL"),
        ]
    ]
    assert created.status_code == 201, created.text
    assert tenant["special_use_email_domains"] is None  # follows the deployment
    assert [m.status_code for m in members] == [201] * 4, [m.text for m in members]
    assert members[3].json()["user"]["email"] == "dee@corp.local"


@pytest.mark.parametrize("email", ["a@host.localhost", "a@hidden.onion", "a@x.invalid", "a@local"])
async def test_names_no_mailbox_can_have_are_refused_everywhere(
    auth: httpx.AsyncClient, email: str
) -> None:
    created = await auth.post("/v1/tenants", json=owned_tenant("boss@example.com"))
    signup = await auth.post(
        "/v1/auth/signup", json=member(created.json()["tenant"]["slug"], "ann", email)
    )
    assert signup.status_code == 422
    assert error_locs(signup) == ["body.email"]


async def test_a_tenant_can_refuse_them_on_a_deployment_that_accepts_them(
    auth: httpx.AsyncClient,
) -> None:
    strict = await auth.post(
        "/v1/tenants", json=owned_tenant("boss@example.com", special_use_email_domains=False)
    )
    tenant = strict.json()["tenant"]
    refused = await auth.post("/v1/auth/signup", json=member(tenant["slug"], "ann", "a@corp.local"))
    public = await auth.post("/v1/auth/signup", json=member(tenant["slug"], "bob", "b@corp.com"))
    bob = {"authorization": f"Bearer {public.json()['tokens']['access_token']}"}
    moved = await auth.patch("/v1/auth/me", json={"email": "b@corp.local"}, headers=bob)
    strict_owner = await auth.post(
        "/v1/tenants", json=owned_tenant("boss@corp.local", special_use_email_domains=False)
    )
    assert tenant["special_use_email_domains"] is False
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert error_locs(refused) == ["body.email"]
    assert public.status_code == 201
    assert moved.status_code == 422  # a profile change follows the same rule as a signup
    assert error_locs(moved) == ["body.email"]
    assert strict_owner.status_code == 422
    assert error_locs(strict_owner) == ["body.owner.email"]


async def test_a_deployment_can_refuse_them_and_a_tenant_can_still_accept_them(
    stack_urls: StackUrls, isolation: Isolation
) -> None:
    settings = make_settings(stack_urls, isolation, special_use_email_domains=False)
    async with running_auth(settings) as auth:
        refused_owner = await auth.post("/v1/tenants", json=owned_tenant("boss@corp.local"))
        plain = await auth.post("/v1/tenants", json=owned_tenant("boss@example.com"))
        refused = await auth.post(
            "/v1/auth/signup",
            json=member(plain.json()["tenant"]["slug"], "ann", "ann@build.internal"),
        )
        welcoming = await auth.post(
            "/v1/tenants", json=owned_tenant("boss@corp.local", special_use_email_domains=True)
        )
        accepted = await auth.post(
            "/v1/auth/signup",
            json=member(welcoming.json()["tenant"]["slug"], "ann", "ann@qa.test"),
        )
    assert refused_owner.status_code == 422
    assert error_locs(refused_owner) == ["body.owner.email"]
    assert plain.status_code == 201
    assert refused.status_code == 422
    assert error_locs(refused) == ["body.email"]
    assert welcoming.status_code == 201, welcoming.text
    assert accepted.status_code == 201, accepted.text
