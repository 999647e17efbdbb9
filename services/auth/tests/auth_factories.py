"""Plain factories of request bodies for auth tests."""

import uuid
from typing import Any

from parley_auth.settings import AuthSettings
from parley_kit.testing.stack import Isolation, StackUrls


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


def make_settings(urls: StackUrls, names: Isolation, **overrides: object) -> AuthSettings:
    values: dict[str, object] = {
        "mongo_url": urls.mongo_url,
        "mongo_db": f"{names.mongo_db}_auth",
        "redis_url": urls.redis_url,
        "redis_prefix": names.redis_prefix,
        "kafka_bootstrap": urls.kafka_bootstrap,
        "topic_prefix": names.topic_prefix,
        "kafka_partitions": 1,
        "log_json": False,
    }
    return AuthSettings.model_validate(values | overrides)
