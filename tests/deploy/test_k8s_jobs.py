"""The explicit operations steps: a search reindex and a signing-key rotation, as suspended
CronJobs (nothing runs on apply; `kubectl create job --from=cronjob/...` starts one), each
running a command the service really has, never twice at once."""

import re
import shlex

import pytest
from k8s_render import OVERLAYS, ROOT, by_kind, render

from parley_auth import rotation

SERVICES_SRC = ROOT / "services"
MIGRATING = ("auth", "messaging", "search")  # the services with a store of their own


def container(cronjob: dict) -> dict:
    (only,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_jobs_run_only_when_started_one_at_a_time_and_never_restart_in_place(overlay: str) -> None:
    cronjobs = by_kind(render(overlay), "CronJob")
    assert set(cronjobs) == {
        "parley-search-reindex",
        "parley-auth-key-rotation",
        *(f"parley-{service}-migrate" for service in MIGRATING),
    }
    for name, cronjob in cronjobs.items():
        assert cronjob["spec"]["suspend"] is True, name
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid", name
        job = cronjob["spec"]["jobTemplate"]["spec"]
        assert job["template"]["spec"]["restartPolicy"] == "Never", name
        assert job["activeDeadlineSeconds"] > 0, name
        assert job["backoffLimit"] <= 3, name


def test_the_reindex_job_runs_the_search_reindex_command() -> None:
    reindex = container(by_kind(render("prod"), "CronJob")["parley-search-reindex"])
    assert reindex["image"].endswith("/parley/search:0.1.0")
    assert "command" not in reindex  # the image's entry point: python -m parley_search
    assert reindex["args"] == ["reindex"]
    entry = (SERVICES_SRC / "search" / "src" / "parley_search" / "__main__.py").read_text()
    assert 'argv[1:] == ["reindex"]' in entry


def test_the_rotation_job_takes_the_cli_steps_in_order_with_the_configured_waits() -> None:
    objects = render("prod")
    rotate = container(by_kind(objects, "CronJob")["parley-auth-key-rotation"])
    assert rotate["image"].endswith("/parley/auth:0.1.0")
    assert rotate["command"] == ["/bin/sh", "-c"]
    (script,) = rotate["args"]
    steps = re.findall(r"python -m parley_auth\.rotation (\w+)", script)
    assert steps == ["stage", "promote", "retire"]
    assert set(steps) <= set(rotation.STEPS)
    assert script.startswith("set -e;")  # a refused step stops the job (exit 1)
    (config,) = [o for o in objects if o["metadata"]["name"].startswith("parley-config")]
    waits = re.findall(r"sleep \"\$(\w+)\"", script)
    assert waits == [
        "PARLEY_AUTH_KEY_PUBLISH_SECONDS",
        "PARLEY_AUTH_ACCESS_TOKEN_SECONDS",
        "PARLEY_AUTH_KEY_RETIRE_MARGIN_SECONDS",
    ]
    for wait in waits:
        assert float(config["data"][wait]) >= 0, wait
    shlex.split(script)  # well-formed for the shell
    # The whole rotation fits in the job's deadline.
    job = by_kind(objects, "CronJob")["parley-auth-key-rotation"]["spec"]["jobTemplate"]["spec"]
    total = sum(float(config["data"][w]) for w in waits)
    assert job["activeDeadlineSeconds"] > total + 60


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_jobs_get_the_same_config_secrets_and_hardening_as_their_service(overlay: str) -> None:
    objects = render(overlay)
    deployments = by_kind(objects, "Deployment")
    for name, cronjob in by_kind(objects, "CronJob").items():
        service = name.split("-")[1]  # parley-<service>-<step>
        (service_container,) = deployments[f"parley-{service}"]["spec"]["template"]["spec"][
            "containers"
        ]
        job_container = container(cronjob)
        assert job_container["envFrom"] == service_container["envFrom"], name
        assert job_container["image"] == service_container["image"], name
        assert job_container["securityContext"] == service_container["securityContext"], name


@pytest.mark.parametrize("service", MIGRATING)
def test_each_migrate_job_runs_its_services_migrate_command(service: str) -> None:
    migrate = container(by_kind(render("prod"), "CronJob")[f"parley-{service}-migrate"])
    assert migrate["image"].endswith(f"/parley/{service}:0.1.0")
    assert "command" not in migrate  # the image's entry point: python -m parley_<service>
    assert migrate["args"] == ["migrate"]
    entry = (SERVICES_SRC / service / "src" / f"parley_{service}" / "__main__.py").read_text()
    assert 'argv[1:2] == ["migrate"]' in entry


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_in_kubernetes_only_check_their_migrations(overlay: str) -> None:
    """The Jobs apply migrations; a pod of a release whose steps are not applied yet refuses to
    start (and the rollout waits) instead of changing the store as it starts."""
    (config,) = [o for o in render(overlay) if o["metadata"]["name"].startswith("parley-config")]
    for service in MIGRATING:
        assert config["data"][f"PARLEY_{service.upper()}_MIGRATIONS"] == "check", service


def test_every_job_the_operations_guide_starts_is_a_rendered_cronjob() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    started = set(re.findall(r"--from=cronjob/([\w-]+)", guide))
    assert {f"parley-{service}-migrate" for service in MIGRATING} <= started
    assert started <= set(by_kind(render("prod"), "CronJob"))
