"""docker-compose.yml as Docker would run it, without a Docker engine.

- `resolved(env_text)`: the project compose-go (the library `docker compose` loads projects
  with) makes of the committed compose file in a copy of what it reads, with `env_text` as the
  `.env` beside it and no variable from this process's environment: `docker compose config`,
  as JSON. `resolved_as_documented()` is the documented `cp .env.example .env`.
- `compose_problems(env_text, services=...)`: compose-go's error for the same, or None;
  `services` selects some as `docker compose up NAME...` does.
- `tools`: deploy/tools.py (compose-check and hadolint, built or installed once, cached).
"""

import importlib.util
import json
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# What the compose file reads besides itself and .env.
READ_BY_COMPOSE = [Path("deploy/docker/parley.env")]

_spec = importlib.util.spec_from_file_location("parley_deploy_tools", ROOT / "deploy" / "tools.py")
assert _spec is not None
assert _spec.loader is not None
tools = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tools)


def _run(
    env_text: str | None, compose_text: str, services: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="parley-compose-") as scratch:
        project = Path(scratch)
        (project / "docker-compose.yml").write_text(compose_text)
        for path in READ_BY_COMPOSE:
            (project / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / path, project / path)
        if env_text is not None:
            (project / ".env").write_text(env_text)
        return subprocess.run(
            [str(tools.binary("compose-check")), *(f"--service={s}" for s in services)],
            cwd=project,
            env={"PATH": "/usr/bin:/bin"},  # nothing of this process's own environment
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )


def compose_problems(
    env_text: str | None, compose_text: str | None = None, *, services: tuple[str, ...] = ()
) -> str | None:
    done = _run(env_text, compose_text or COMPOSE_FILE.read_text(), services)
    return None if done.returncode == 0 else done.stderr.strip() or "failed"


@cache
def resolved(env_text: str, compose_text: str | None = None) -> dict[str, Any]:
    done = _run(env_text, compose_text or COMPOSE_FILE.read_text())
    if done.returncode != 0:
        raise AssertionError(f"compose-go refuses the project:\n{done.stderr}")
    project: dict[str, Any] = json.loads(done.stdout)
    return project


def resolved_as_documented() -> dict[str, Any]:
    return resolved(ENV_EXAMPLE.read_text())
