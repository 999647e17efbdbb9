"""docker-compose.yml and .env.example agree with the settings the services really read."""

import sys
from pathlib import Path

import yaml

from parley_auth.settings import AuthSettings
from parley_gateway.settings import GatewaySettings
from parley_messaging.settings import MessagingSettings
from parley_search.settings import SearchSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "docker"))
from env_example import render  # noqa: E402

SETTINGS = {
    "auth": AuthSettings,
    "messaging": MessagingSettings,
    "search": SearchSettings,
    "gateway": GatewaySettings,
}
ENGINES = {"mongo", "kafka", "elasticsearch", "redis"}


def compose() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def unknown_variables(environment: dict[str, str], service: str) -> list[str]:
    settings = SETTINGS[service]
    prefix = str(settings.model_config.get("env_prefix", ""))
    fields = {f"{prefix}{name.upper()}" for name in settings.model_fields}
    return sorted(set(environment) - fields)


def test_compose_runs_the_engines_and_every_service_with_healthchecks() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == ENGINES | set(SETTINGS)
    for name in ENGINES:
        assert "healthcheck" in services[name], name
    for name in SETTINGS:
        spec = services[name]
        assert spec["build"]["args"]["SERVICE"] == name
        conditions = {dep["condition"] for dep in spec["depends_on"].values()}
        assert conditions == {"service_healthy"}, name
    assert services["elasticsearch"]["image"].startswith("elasticsearch:8.")
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert services["mongo"]["image"].startswith("mongo:7")
    assert set(compose()["volumes"]) == {"mongo-data", "kafka-data", "es-data"}  # type: ignore[arg-type]
    published = [name for name in SETTINGS if "ports" in services[name]]
    assert published == ["gateway"]


def test_every_compose_variable_is_a_real_setting() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    for name in SETTINGS:
        assert unknown_variables(services[name]["environment"], name) == [], name


def test_the_check_catches_a_misspelled_variable() -> None:
    assert unknown_variables({"PARLEY_GATEWAY_AUTH_ULR": "x"}, "gateway") == [
        "PARLEY_GATEWAY_AUTH_ULR"
    ]


def test_env_example_lists_every_setting_of_every_service() -> None:
    assert (ROOT / ".env.example").read_text() == render(), (
        "regenerate: uv run python deploy/docker/env_example.py > .env.example"
    )
