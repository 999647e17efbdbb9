"""The commands of docs/operations.md, run as an operator types them: each `python -m
parley_<service> ...` line with the environment that service's container has."""

import os
import re
import subprocess
import sys
from pathlib import Path

from e2e_suite import ProcessSuite

from parley_kit.testing.stack import repo_root


def section_commands(title: str) -> list[str]:
    """The command lines of the ```bash blocks of one `##` section (comments left out)."""
    text = (repo_root() / "docs" / "operations.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/operations.md has no section {title!r}"
    blocks = re.findall(r"```bash\n(.*?)```", match.group(1), re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def run(
    command: str, suite: ProcessSuite, extra: dict[str, str] | None = None, *, expect: int = 0
) -> str:
    """One documented command through bash, with the environment of the service it names,
    `python` being this venv's; its output, after checking its exit status."""
    (service,) = re.findall(r"python -m parley_(\w+)", command)
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        | suite.environment(service)
        | (extra or {})
        | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    )
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == expect, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout
