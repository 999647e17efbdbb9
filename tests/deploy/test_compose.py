"""docker-compose.yml, .env.example, the compose env file and the k8s ConfigMap agree with the
settings the services really read; and `cp .env.example .env && docker compose up` runs what
docs/operations.md says, checked on the project compose-go resolves (tests/deploy/
compose_project.py): healthchecks, restart policies, log rotation, resource limits, named
volumes, and secrets only from the git-ignored .env."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_project import COMPOSE_FILE, ENV_EXAMPLE, compose_problems, resolved_as_documented
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "config"))
from render import COMPOSE, FILES, SECRET_FIELDS, SERVICES, env_prefix, rendered  # noqa: E402

ENGINES = {"mongo", "kafka", "elasticsearch", "redis"}
# Where each engine keeps its data in its official image.
ENGINE_DATA = {
    "mongo": "/data/db",
    "kafka": "/var/lib/kafka/data",
    "elasticsearch": "/usr/share/elasticsearch/data",
    "redis": "/data",
}
# An engine's credential variable (MONGO_INITDB_ROOT_PASSWORD, ELASTIC_PASSWORD, ...).
SECRET_WORDS = re.compile(r"(SECRET|PASSWORD|API_KEY|TOKEN)(_FILE)?$", re.IGNORECASE)


def every_variable(*, secrets: bool = True) -> set[str]:
    return {
        f"{env_prefix(settings)}{name.upper()}"
        for settings in SERVICES.values()
        for name in settings.model_fields
        if secrets or name not in SECRET_FIELDS
    }


def secret_variables(settings: type[BaseSettings]) -> set[str]:
    prefix = env_prefix(settings)
    return {f"{prefix}{name.upper()}" for name in settings.model_fields if name in SECRET_FIELDS}


def env_variables(text: str) -> set[str]:
    return set(env_values(text))


def env_values(text: str) -> dict[str, str]:
    return {
        line.partition("=")[0]: line.partition("=")[2]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    }


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def services() -> dict[str, Any]:
    project: dict[str, Any] = resolved_as_documented()["services"]
    return project


def test_generated_files_are_current() -> None:
    for path, render in FILES.items():
        assert path.read_text() == render(), (
            f"{path.name} is stale: run `uv run python deploy/config/render.py`"
        )


def test_every_setting_is_in_env_example_compose_and_the_config_map() -> None:
    assert env_variables(ENV_EXAMPLE.read_text()) == every_variable()
    # The committed compose env file has no secret at all: those come from .env.
    assert env_variables((ROOT / "deploy" / "docker" / "parley.env").read_text()) == (
        every_variable(secrets=False)
    )
    config = env_variables((ROOT / "deploy" / "k8s" / "base" / "config.env").read_text())
    assert config == every_variable(secrets=False)


def test_the_check_catches_a_missing_or_misspelled_variable() -> None:
    text = (ROOT / "deploy" / "docker" / "parley.env").read_text()
    broken = text.replace("PARLEY_GATEWAY_AUTH_URL=", "PARLEY_GATEWAY_AUTH_ULR=")
    assert env_variables(broken) != every_variable(secrets=False)
    assert every_variable(secrets=False) - env_variables(broken) == {"PARLEY_GATEWAY_AUTH_URL"}


def test_compose_runs_the_engines_and_every_service_with_healthchecks() -> None:
    specs = compose()["services"]
    assert set(specs) == ENGINES | set(SERVICES)
    for name in SERVICES:
        spec = specs[name]
        assert spec["build"]["args"]["SERVICE"] == name
        assert spec["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        env_files = [entry["path"] for entry in spec["env_file"]]
        # .env first: the generated network values win over its local ones; its secrets stay.
        assert env_files == [".env", "deploy/docker/parley.env"], name
        assert all(entry["required"] for entry in spec["env_file"]), name
        conditions = {dep["condition"] for dep in spec["depends_on"].values()}
        assert conditions == {"service_healthy"}, name
        assert spec["read_only"] is True, name
    assert specs["elasticsearch"]["image"].startswith("elasticsearch:8.")
    assert specs["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"
    assert specs["kafka"]["image"].startswith("apache/kafka:3.9")
    assert specs["mongo"]["image"].startswith("mongo:7")
    published = [name for name in SERVICES if "ports" in specs[name]]
    assert published == ["gateway"]


def test_cp_env_example_to_env_is_a_project_compose_go_accepts() -> None:
    assert compose_problems(ENV_EXAMPLE.read_text()) is None
    # Without .env compose stops at once, naming it (the documented first step).
    missing = compose_problems(None)
    assert missing is not None
    assert ".env" in missing


def test_the_engines_alone_need_no_env_file() -> None:
    """`make run` with a Docker engine starts only the engines (`docker compose up NAME...`):
    that works in a fresh checkout, before anyone made a .env."""
    assert compose_problems(None, services=tuple(sorted(ENGINES))) is None
    assert compose_problems(None, services=("auth",)) is not None


def test_every_variable_the_compose_file_interpolates_has_a_value_in_env_example() -> None:
    text = COMPOSE_FILE.read_text()
    interpolated = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    interpolated |= set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")))
    example = env_values(ENV_EXAMPLE.read_text())
    assert {name for name in interpolated if not example.get(name)} == set()


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_service_environment_satisfies_its_settings_model(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = services()[service]["environment"]
    settings_type = SERVICES[service]
    prefix = env_prefix(settings_type)
    for variable in [v for v in os.environ if v.startswith("PARLEY_")]:
        monkeypatch.delenv(variable)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value or "")
    settings = settings_type()  # refuses a missing, misspelt or malformed value
    own = {v: environment[v] for v in environment if v.startswith(prefix)}
    # Every setting arrives, with the compose network's value (not .env.example's local one).
    assert set(own) == {f"{prefix}{name.upper()}" for name in settings_type.model_fields}
    for name, value in COMPOSE[service].items():
        assert own[f"{prefix}{name.upper()}"] == rendered(value), name
    local_hosts = {v for v, value in own.items() if "127.0.0.1" in value or "localhost" in value}
    # The OTLP endpoint is read only when an exporter is on (an override sets both).
    if own.get(f"{prefix}TRACING_EXPORTER") == "none":
        local_hosts.discard(f"{prefix}TRACING_ENDPOINT")
    assert local_hosts == set()
    assert settings.model_dump()["host"] == "0.0.0.0"


def test_secrets_come_from_env_and_nowhere_committed() -> None:
    example = env_values(ENV_EXAMPLE.read_text())
    every_secret = set().union(*(secret_variables(s) for s in SERVICES.values()))
    for name, spec in compose()["services"].items():
        assert literal_secrets(spec.get("environment", {}), every_secret) == [], name
    committed = env_values((ROOT / "deploy" / "docker" / "parley.env").read_text())
    assert literal_secrets(committed, every_secret) == []
    internal = set()
    for service, settings_type in SERVICES.items():
        environment = services()[service]["environment"]
        for variable in secret_variables(settings_type):
            assert environment[variable] == example[variable], variable  # from .env
        internal.add(environment[f"{env_prefix(settings_type)}INTERNAL_SECRET"])
    assert len(internal) == 1  # one internal secret shared by the four services
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", ".env"], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, ".env must be git-ignored"


def literal_secrets(environment: dict[str, Any], every_secret: set[str]) -> list[str]:
    return [key for key in environment if key in every_secret or SECRET_WORDS.search(key)]


def test_the_secret_check_catches_a_literal_in_the_compose_file() -> None:
    every_secret = set().union(*(secret_variables(s) for s in SERVICES.values()))
    assert "PARLEY_SEARCH_ELASTICSEARCH_API_KEY" in every_secret
    literals = {
        "PARLEY_AUTH_INTERNAL_SECRET": "hunter2",
        "PARLEY_AUTH_PASSWORD_HASH_WORKERS": "2",
        "MONGO_INITDB_ROOT_PASSWORD": "hunter2",
        "PARLEY_GATEWAY_TRACING_HEADERS": "Authorization=Bearer x",
    }
    assert literal_secrets(literals, every_secret) == [
        "PARLEY_AUTH_INTERNAL_SECRET",
        "MONGO_INITDB_ROOT_PASSWORD",
        "PARLEY_GATEWAY_TRACING_HEADERS",
    ]


def operations_problems(name: str, spec: dict[str, Any]) -> list[str]:
    """What an SRE would refuse in one resolved service of the project."""
    found = []
    test = (spec.get("healthcheck") or {}).get("test") or []
    if not test or test[0] == "NONE" or spec["healthcheck"].get("disable"):
        found.append("no healthcheck")
    if name in SERVICES and test[1:] != ["/app/.venv/bin/parley-healthcheck", "/readyz"]:
        found.append("healthcheck is not /readyz on the ops port")
    if spec.get("restart") not in {"always", "unless-stopped", "on-failure"}:
        found.append("no restart policy")
    logging = spec.get("logging") or {}
    options = logging.get("options") or {}
    if logging.get("driver") != "json-file" or not {"max-size", "max-file"} <= set(options):
        found.append("logs not rotated")
    limits = ((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = limits.get("memory") or spec.get("mem_limit")
    cpus = limits.get("cpus") or spec.get("cpus")
    if not memory or not cpus:
        found.append("no resource limits")
    if name in ENGINES:
        volumes = {v["target"]: v for v in spec.get("volumes", []) if v.get("type") == "volume"}
        if ENGINE_DATA[name] not in volumes or not volumes[ENGINE_DATA[name]].get("source"):
            found.append("data not on a named volume")
    return found


def test_every_service_and_engine_is_run_as_an_sre_would() -> None:
    project = resolved_as_documented()
    assert {name: operations_problems(name, spec) for name, spec in services().items()} == {
        name: [] for name in ENGINES | set(SERVICES)
    }
    named = {v["source"] for spec in services().values() for v in spec.get("volumes", [])}
    assert named <= set(project["volumes"])


def test_the_operations_check_catches_what_it_looks_for() -> None:
    bare = {"image": "redis:7.4", "healthcheck": {"test": ["NONE"]}, "volumes": []}
    assert operations_problems("redis", bare) == [
        "no healthcheck",
        "no restart policy",
        "logs not rotated",
        "no resource limits",
        "data not on a named volume",
    ]
    liveness_only = {"healthcheck": {"test": ["CMD", "/app/.venv/bin/parley-healthcheck"]}}
    assert "healthcheck is not /readyz on the ops port" in operations_problems(
        "gateway", liveness_only
    )


def test_the_ops_ports_are_not_published() -> None:
    for name in SERVICES:
        published = {int(p["published"]) for p in services()[name].get("ports", [])}
        assert published <= {8000}, name
