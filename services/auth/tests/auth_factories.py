"""Plain factories of request bodies for auth tests."""

import uuid
from typing import Any


def tenant_body(slug: str | None = None, username: str = "owner", **extra: Any) -> dict[str, Any]:
    slug = slug or f"t-{uuid.uuid4().hex[:8]}"
    return {
        "name": f"Tenant {slug}",
        "slug": slug,
        "owner": {
            "username": username,
            "email": f"{username}@example.com",
            "password": "owner-pass-1",
        },
    } | extra


def signup_body(tenant: str, username: str, password: str = "member-pass-1") -> dict[str, Any]:
    return {
        "tenant": tenant,
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
