"""A lint of the service Dockerfile (no hadolint offline): the rules the issue asks for."""

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def problems(text: str) -> list[str]:
    steps = instructions(text)
    stages = [rest for keyword, rest in steps if keyword == "FROM"]
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    found = []
    if len(stages) < 2:
        found.append("not multi-stage")
    if any(
        ":latest" in rest or (rest.split(" ")[0].count(":") == 0 and "$" not in rest)
        for rest in stages
    ):
        found.append("unpinned base image")
    users = [rest for keyword, rest in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        found.append("final stage runs as root")
    if not any(keyword == "HEALTHCHECK" for keyword, _ in final):
        found.append("no HEALTHCHECK")
    entry = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    if not entry or not entry[-1].startswith("["):
        found.append("ENTRYPOINT is not exec form")
    if any(keyword == "RUN" and re.search(r"\buv\b|pip install", rest) for keyword, rest in final):
        found.append("build tools in the final stage")
    if not any(keyword == "RUN" and "--no-dev" in rest for keyword, rest in steps):
        found.append("dev dependencies installed")
    return found


def test_dockerfile_follows_the_rules() -> None:
    assert problems(DOCKERFILE.read_text()) == []


def test_the_lint_catches_a_root_shell_form_image() -> None:
    bad = "FROM python:latest\nRUN pip install uv\nCMD python -m parley_gateway\n"
    assert set(problems(bad)) >= {
        "not multi-stage",
        "unpinned base image",
        "final stage runs as root",
        "no HEALTHCHECK",
        "ENTRYPOINT is not exec form",
    }
