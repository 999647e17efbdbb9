"""docker-compose.yml, .env.example, the compose env file and the k8s ConfigMap agree with the
settings the services really read: every setting is in each of them, under the same name."""

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "config"))
from render import FILES, SECRET_FIELDS, SERVICES, env_prefix  # noqa: E402

ENGINES = {"mongo", "kafka", "elasticsearch", "redis"}


def every_variable(*, secrets: bool = True) -> set[str]:
    return {
        f"{env_prefix(settings)}{name.upper()}"
        for settings in SERVICES.values()
        for name in settings.model_fields
        if secrets or name not in SECRET_FIELDS
    }


def env_variables(text: str) -> set[str]:
    return {
        line.partition("=")[0]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    }


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_generated_files_are_current() -> None:
    for path, render in FILES.items():
        assert path.read_text() == render(), (
            f"{path.name} is stale: run `uv run python deploy/config/render.py`"
        )


def test_every_setting_is_in_env_example_compose_and_the_config_map() -> None:
    assert env_variables((ROOT / ".env.example").read_text()) == every_variable()
    assert env_variables((ROOT / "deploy" / "docker" / "parley.env").read_text()) == (
        every_variable()
    )
    config = env_variables((ROOT / "deploy" / "k8s" / "base" / "config.env").read_text())
    assert config == every_variable(secrets=False)


def test_the_check_catches_a_missing_or_misspelled_variable() -> None:
    text = (ROOT / "deploy" / "docker" / "parley.env").read_text()
    broken = text.replace("PARLEY_GATEWAY_AUTH_URL=", "PARLEY_GATEWAY_AUTH_ULR=")
    assert env_variables(broken) != every_variable()
    assert every_variable() - env_variables(broken) == {"PARLEY_GATEWAY_AUTH_URL"}


def test_compose_runs_the_engines_and_every_service_with_healthchecks() -> None:
    services = compose()["services"]
    assert set(services) == ENGINES | set(SERVICES)
    for name in ENGINES:
        assert "healthcheck" in services[name], name
    for name in SERVICES:
        spec = services[name]
        assert spec["build"]["args"]["SERVICE"] == name
        env_files = [entry["path"] for entry in spec["env_file"]]
        assert env_files == ["deploy/docker/parley.env", ".env"], name
        conditions = {dep["condition"] for dep in spec["depends_on"].values()}
        assert conditions == {"service_healthy"}, name
        assert spec["read_only"] is True, name
    assert services["elasticsearch"]["image"].startswith("elasticsearch:8.")
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert services["mongo"]["image"].startswith("mongo:7")
    assert set(compose()["volumes"]) == {"mongo-data", "kafka-data", "es-data"}
    published = [name for name in SERVICES if "ports" in services[name]]
    assert published == ["gateway"]
