"""The service Dockerfile: hadolint clean (the real linter, installed once by
deploy/tools.py), plus the rules hadolint does not check, read from the parsed file: base
images pinned by digest, non-root, a HEALTHCHECK on /readyz, an exec-form entry point, no build
tools in the final stage, one service's locked non-dev dependencies, no secrets."""

import re
import subprocess
from pathlib import Path

import pytest
from compose_project import tools

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|API_KEY|TOKEN|PRIVATE", re.IGNORECASE)


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def global_args(steps: list[tuple[str, str]]) -> dict[str, str]:
    """The ARGs before the first FROM with their defaults (what a FROM may expand)."""
    args = {}
    for keyword, rest in steps:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default.strip('"')
    return args


def base_images(text: str) -> list[str]:
    steps = instructions(text)
    args = global_args(steps)
    stages = set()
    images = []
    for keyword, rest in steps:
        if keyword != "FROM":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        if image not in stages:  # FROM an earlier stage is not a base image
            images.append(image)
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return images


def problems(text: str) -> list[str]:
    steps = instructions(text)
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    found = []
    if len(stages) < 2:
        found.append("not multi-stage")
    if any(":latest" in image or not DIGEST.search(image) for image in base_images(text)):
        found.append("base image not pinned by digest")
    users = [rest for keyword, rest in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        found.append("final stage runs as root")
    checks = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    if not checks:
        found.append("no HEALTHCHECK")
    elif "/readyz" not in checks[-1]:
        found.append("HEALTHCHECK is not /readyz")
    entry = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    if not entry or not entry[-1].startswith("["):
        found.append("ENTRYPOINT is not exec form")
    if any(keyword == "RUN" and re.search(r"\buv\b|pip install", rest) for keyword, rest in final):
        found.append("build tools in the final stage")
    syncs = [rest for keyword, rest in steps if keyword == "RUN" and "uv sync" in rest]
    if not syncs or not all(
        "--frozen" in s and "--no-dev" in s and '--package "parley-${SERVICE}"' in s for s in syncs
    ):
        found.append("not one service's locked non-dev dependencies")
    for keyword, rest in steps:
        if keyword in {"ENV", "ARG"} and SECRET_NAMES.search(rest.split("=")[0]):
            found.append(f"a secret in {keyword}")
        if keyword in {"COPY", "ADD"} and re.search(r"(^|\s)\.env\b|\.pem\b|\.key\b", rest):
            found.append(f"a secret file in {keyword}")
    return found


def hadolint(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.binary("hadolint")), "--no-color", "--failure-threshold", "style", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )


def test_dockerfile_follows_the_rules() -> None:
    assert problems(DOCKERFILE.read_text()) == []


def test_the_base_image_is_python_3_11_slim_by_digest() -> None:
    images = base_images(DOCKERFILE.read_text())
    assert images
    assert all(image.startswith("python:3.11-slim@sha256:") for image in images), images


def test_the_lint_catches_a_root_shell_form_image() -> None:
    bad = (
        "ARG BASE=python:3.11-slim\nFROM ${BASE}\nENV PARLEY_AUTH_INTERNAL_SECRET=x\n"
        "COPY .env /app/.env\nRUN pip install uv && uv sync\nCMD python -m parley_gateway\n"
    )
    assert set(problems(bad)) >= {
        "not multi-stage",
        "base image not pinned by digest",
        "final stage runs as root",
        "no HEALTHCHECK",
        "ENTRYPOINT is not exec form",
        "build tools in the final stage",
        "not one service's locked non-dev dependencies",
        "a secret in ENV",
        "a secret file in COPY",
    }
    liveness = DOCKERFILE.read_text().replace('"/readyz"]', '"/healthz"]')
    assert problems(liveness) == ["HEALTHCHECK is not /readyz"]


def test_hadolint_passes_at_every_severity() -> None:
    linted = hadolint(DOCKERFILE.read_text())
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("dockerfile", "rule"),
    [
        ("FROM python:latest\nCMD python app.py\n", "DL3007"),
        ("FROM python:3.11-slim\nRUN pip install uv\n", "DL3013"),
    ],
)
def test_hadolint_really_lints(dockerfile: str, rule: str) -> None:
    linted = hadolint(dockerfile)
    assert linted.returncode != 0
    assert rule in linted.stdout
