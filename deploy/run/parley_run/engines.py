"""The engines keep their own lifecycle (`make stack-up` / `stack-down`): `make run` only makes
sure they are up before the services start, and never stops them."""

import asyncio
import contextlib
import signal
import sys

from parley_run.config import ROOT
from parley_run.console import Console

COMPOSE_FILE = ROOT / "docker-compose.yml"


class EnginesFailed(Exception):
    pass


def engine_mode(requested: str) -> str:
    """`PARLEY_STACK=local|docker|external` forces one; `auto`: Docker when an engine answers.
    `external`: the engines run elsewhere and the services' own settings say where."""
    if requested in {"local", "docker", "external"}:
        return requested
    if requested != "auto":
        raise EnginesFailed(
            f"PARLEY_STACK must be local, docker, external or auto, not {requested!r}"
        )
    sys.path.insert(0, str(ROOT / "libs" / "kit" / "src"))
    from parley_kit.testing.stack import docker_answers

    return "docker" if docker_answers() else "local"


def compose_engine_services() -> list[str]:
    """The compose services that are engines (everything not built from this repository)."""
    import yaml

    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return [name for name, spec in document["services"].items() if "build" not in spec]


async def _run(command: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    try:
        returncode = await process.wait()
    except asyncio.CancelledError:
        # A stop arrived while the engines were coming up: end the command, not the engines.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()
        raise
    if returncode != 0:
        raise EnginesFailed(f"`{' '.join(command[:4])} ...` exited with {returncode}")


async def start_engines(requested: str, console: Console) -> dict[str, str]:
    """Bring the engines up; returns what the services' environment needs for them."""
    mode = engine_mode(requested)
    if mode == "external":
        console.say("engines: external (PARLEY_STACK=external), not started here")
        return {}
    if mode == "docker":
        console.say("engines: docker compose (PARLEY_STACK=local to use local processes)")
        await _run(
            [
                *("docker", "compose", "-f", str(COMPOSE_FILE), "up", "-d", "--wait"),
                *compose_engine_services(),
            ]
        )
        return {"PARLEY_SEARCH_ENGINE": "elasticsearch"}
    console.say("engines: local processes (deploy/local; logs in .stack/logs/)")
    await _run([sys.executable, str(ROOT / "deploy" / "local" / "stack.py"), "up"])
    return {}
