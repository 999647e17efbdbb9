"""Every setting of every service, written for each way Parley runs, from the settings models.

    uv run python deploy/config/render.py      # rewrites the three files below

- `.env.example`                  local defaults (what `make run` uses without any environment)
- `deploy/docker/parley.env`      the compose network's values (compose's `env_file`)
- `deploy/k8s/base/config.env`    the in-cluster values (configMapGenerator `parley-config`)

Every secret (SecretStr setting) is a placeholder in `.env.example` and absent from the other
two: compose reads it from `.env` (a copy of `.env.example`, never committed), Kubernetes from
the Secrets. `tests/deploy` fails when a file differs from what this
renders, so a new setting reaches every deployment or the build is red.
"""

from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from parley_auth.settings import AuthSettings
from parley_gateway.settings import GatewaySettings
from parley_messaging.settings import MessagingSettings
from parley_search.settings import SearchSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "messaging": MessagingSettings,
    "search": SearchSettings,
    "gateway": GatewaySettings,
}
# Every password, key and shared secret: from a Secret (k8s) or .env (compose), never a ConfigMap.
SECRET_FIELDS = {
    name
    for settings in SERVICES.values()
    for name, field in settings.model_fields.items()
    if field.annotation is SecretStr
}
SECRET_PLACEHOLDER = "change-me-to-a-long-random-value-shared-by-every-service"
Overrides = Mapping[str, Mapping[str, object]]


def _network(hosts: Mapping[str, str]) -> dict[str, dict[str, object]]:
    """The values that differ from local defaults when services find each other by name."""
    auth = f"http://{hosts['auth']}:8001"
    shared = {
        "host": "0.0.0.0",
        "mongo_url": f"mongodb://{hosts['mongo']}:27017",
        "redis_url": f"redis://{hosts['redis']}:6379/0",
        "kafka_bootstrap": hosts["kafka"],
        "jwks_url": f"{auth}/.well-known/jwks.json",
    }
    return {
        "auth": shared | {"public_url": auth},
        "messaging": shared | {"auth_url": auth},
        "search": shared
        | {
            "engine": "elasticsearch",
            "elasticsearch_url": f"http://{hosts['elasticsearch']}:9200",
            "messaging_url": f"http://{hosts['messaging']}:8002",
            "auth_url": auth,
        },
        "gateway": shared
        | {
            "auth_url": auth,
            "messaging_url": f"http://{hosts['messaging']}:8002",
            "search_url": f"http://{hosts['search']}:8003",
            # Replicas behind a load balancer without sticky sessions: websocket only.
            "socket_transports": ["websocket"],
        },
    }


COMPOSE: Overrides = _network(
    {
        "auth": "auth",
        "messaging": "messaging",
        "search": "search",
        "mongo": "mongo",
        "redis": "redis",
        "kafka": "kafka:29092",
        "elasticsearch": "elasticsearch",
    }
)
_K8S = _network(
    {
        "auth": "parley-auth",
        "messaging": "parley-messaging",
        "search": "parley-search",
        "mongo": "parley-mongo",
        "redis": "parley-redis",
        "kafka": "parley-kafka:9092",
        "elasticsearch": "parley-elasticsearch",
    }
)
# Behind the ingress controller: its X-Forwarded-For names the client. The private ranges,
# since only the controller may reach the gateway (NetworkPolicy); an overlay narrows them to
# the controller's pod CIDR.
_K8S["gateway"]["trusted_proxies"] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
# The migrate Jobs apply store migrations; a pod only checks them (refuses to start while one
# is pending) instead of changing the store as it starts (docs/operations.md, "Migrations").
for _service in ("auth", "messaging", "search"):
    _K8S[_service]["migrations"] = "check"
K8S: Overrides = _K8S


def env_prefix(settings: type[BaseSettings]) -> str:
    return str(settings.model_config.get("env_prefix", ""))


def rendered(value: object) -> str:
    if isinstance(value, SecretStr):  # an empty one (no password) stays empty
        return SECRET_PLACEHOLDER if value.get_secret_value() else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(f'"{item}"' for item in value) + "]"
    return str(value)


def settings_of(overrides: Overrides, *, secrets: bool) -> list[tuple[str, str, str, str]]:
    """`(service, variable, value, description)` for every setting of every service."""
    rows = []
    for service, settings in SERVICES.items():
        for name, field in settings.model_fields.items():
            if name in SECRET_FIELDS and not secrets:
                continue
            value = overrides.get(service, {}).get(
                name, field.get_default(call_default_factory=True)
            )
            variable = f"{env_prefix(settings)}{name.upper()}"
            rows.append((service, variable, rendered(value), field.description or ""))
    return rows


def env_file(title: list[str], overrides: Overrides, *, secrets: bool = True) -> str:
    lines = [f"# {line}" if line else "#" for line in title]
    current = ""
    for service, variable, value, description in settings_of(overrides, secrets=secrets):
        if service != current:
            lines += ["", f"# --- {service} ---"]
            current = service
        if description:
            lines.append(f"# {description}")
        lines.append(f"{variable}={value}")
    return "\n".join(lines) + "\n"


def env_example() -> str:
    return env_file(
        [
            "Every setting of every Parley service with its local default (services on this",
            "host, as `make run` starts them). Generated by deploy/config/render.py; do not edit.",
            "Docker compose: `cp .env.example .env`, then set every INTERNAL_SECRET (one value for",
            "all four) and any password in .env; compose takes the secrets from .env (never",
            "committed) and every other setting from deploy/docker/parley.env.",
        ],
        {},
    )


def compose_env() -> str:
    return env_file(
        [
            "Every non-secret setting of every Parley service, for the docker compose network.",
            "Generated by deploy/config/render.py; do not edit. Read after .env, so these win",
            "over .env's local values; the secrets (no value here) come from .env. Override a",
            "setting with `environment:` in a compose.override.yaml.",
        ],
        COMPOSE,
        secrets=False,
    )


def k8s_config() -> str:
    lines = [
        "# Every non-secret setting of every Parley service, in-cluster values, read by the",
        "# configMapGenerator `parley-config` of deploy/k8s/base (its name carries a hash of the",
        "# content, so a change rolls the pods). Generated by deploy/config/render.py; do not",
        "# edit (overlays merge what differs). Secrets come from the Secret `parley-secrets`.",
    ]
    lines += [f"{var}={value}" for _, var, value, _ in settings_of(K8S, secrets=False)]
    return "\n".join(lines) + "\n"


FILES = {
    ROOT / ".env.example": env_example,
    ROOT / "deploy" / "docker" / "parley.env": compose_env,
    ROOT / "deploy" / "k8s" / "base" / "config.env": k8s_config,
}


if __name__ == "__main__":
    for path, render in FILES.items():
        path.write_text(render())
        print(f"wrote {path.relative_to(ROOT)}")
