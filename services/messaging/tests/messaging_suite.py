"""Settings and the handle of messaging tests (importable: conftest modules are not)."""

from dataclasses import dataclass

import httpx

from parley_auth.settings import AuthSettings
from parley_kit.testing.stack import Isolation, StackUrls
from parley_messaging.settings import MessagingSettings


def auth_settings(urls: StackUrls, names: Isolation) -> AuthSettings:
    return AuthSettings(
        mongo_url=urls.mongo_url,
        mongo_db=f"{names.mongo_db}_auth",
        redis_url=urls.redis_url,
        redis_prefix=names.redis_prefix,
        kafka_bootstrap=urls.kafka_bootstrap,
        topic_prefix=names.topic_prefix,
        kafka_partitions=1,
        log_json=False,
    )


def messaging_settings(
    urls: StackUrls, names: Isolation, auth_url: str, **overrides: object
) -> MessagingSettings:
    values: dict[str, object] = {
        "mongo_url": urls.mongo_url,
        "mongo_db": f"{names.mongo_db}_messaging",
        "redis_url": urls.redis_url,
        "redis_prefix": names.redis_prefix,
        "kafka_bootstrap": urls.kafka_bootstrap,
        "topic_prefix": names.topic_prefix,
        "kafka_partitions": 2,
        "auth_url": auth_url,
        "jwks_url": f"{auth_url}/.well-known/jwks.json",
        "log_json": False,
        "outbox_poll_seconds": 0.1,
    }
    return MessagingSettings.model_validate(values | overrides)


@dataclass
class Suite:
    auth: httpx.AsyncClient
    auth_url: str
    messaging: httpx.AsyncClient
    settings: MessagingSettings
