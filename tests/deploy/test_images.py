"""What each service image carries: the Dockerfile's own `uv sync` step, run for each service
into a virtualenv of its own (the venv the image copies, no Docker needed), then inspected.
One service's dependencies only: no other service, no test helpers, no dev tools, no client it
does not use; and what it has is enough to import its app."""

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
SERVICES = ["auth", "messaging", "search", "gateway"]
# Top-level modules that only some services may have.
ONLY_IN = {
    "argon2": {"auth"},
    "socketio": {"gateway"},
    "engineio": {"gateway"},
    "elasticsearch": {"search"},
    "opensearchpy": set(),  # the local stack's OpenSearch client: an extra, in no image
}
NEVER = ["pytest", "_pytest", "ruff", "mypy", "testcontainers", "schemathesis", "parley_client"]


def sync_step() -> str:
    """The Dockerfile's `uv sync` RUN line, as the image build's shell runs it."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    (line,) = [ln for ln in joined.splitlines() if ln.startswith("RUN uv sync")]
    return line.removeprefix("RUN ")


def sync_command(service: str) -> list[str]:
    """What the build's shell makes of that step with SERVICE set and EXTRAS unset."""
    echoed = subprocess.run(
        ["sh", "-c", f"printf '%s\\n' {sync_step()}"],
        env={"PATH": os.environ["PATH"], "SERVICE": service, "EXTRAS": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return echoed.stdout.splitlines()


@pytest.fixture(scope="module")
def image_envs() -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="parley-images-") as scratch:
        envs = {}
        for service in SERVICES:
            target = Path(scratch) / service
            environment = os.environ | {"UV_PROJECT_ENVIRONMENT": str(target)}
            environment.pop("VIRTUAL_ENV", None)
            done = subprocess.run(
                [*sync_command(service), "--quiet"],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            envs[service] = target
        yield envs


def site_packages(env: Path) -> Path:
    (found,) = env.glob("lib/python3.*/site-packages")
    return found


def top_level(env: Path) -> set[str]:
    return {
        path.name.removesuffix(".py")
        for path in site_packages(env).iterdir()
        if not path.name.endswith((".dist-info", ".pth")) and path.name != "__pycache__"
    }


def test_the_sync_step_is_one_service_frozen_without_dev_dependencies() -> None:
    command = sync_command("search")
    assert command[:2] == ["uv", "sync"]
    assert {"--frozen", "--no-dev", "--no-editable"} <= set(command)
    assert command[command.index("--package") + 1] == "parley-search"
    assert "--extra" not in command


@pytest.mark.parametrize("service", SERVICES)
def test_an_image_has_its_own_service_and_the_libs_only(
    service: str, image_envs: dict[str, Path]
) -> None:
    modules = top_level(image_envs[service])
    parley = {m for m in modules if m.startswith("parley_")}
    assert parley == {f"parley_{service}", "parley_kit", "parley_contracts"}
    assert [m for m in NEVER if m in modules] == []
    for module, allowed in ONLY_IN.items():
        assert (module in modules) == (service in allowed), module
    # Non-editable: the code is in the venv, not a link back to a source tree.
    assert not list(site_packages(image_envs[service]).glob("*.pth")) or all(
        "/src" not in p.read_text() for p in site_packages(image_envs[service]).glob("*.pth")
    )


@pytest.mark.parametrize("service", SERVICES)
def test_no_image_carries_the_test_helpers(service: str, image_envs: dict[str, Path]) -> None:
    kit = site_packages(image_envs[service]) / "parley_kit"
    assert (kit / "health.py").exists()
    assert not (kit / "testing").exists()


@pytest.mark.parametrize("service", SERVICES)
def test_what_an_image_has_is_enough_to_build_its_app(
    service: str, image_envs: dict[str, Path]
) -> None:
    python = image_envs[service] / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", f"import parley_{service}.main as m; m.create_app"],
        cwd=image_envs[service],  # not the checkout: nothing imported from the source tree
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
