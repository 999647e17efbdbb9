"""A service started in production mode with a local default or placeholder secret refuses to
start, naming the variable to set (the settings checks themselves: libs/kit/tests)."""

import os
import subprocess
import sys

import pytest

SERVICES = ("auth", "messaging", "search", "gateway")
PLACEHOLDER = "change-me-to-a-long-random-value-shared-by-every-service"


def start(service: str, **values: str) -> subprocess.CompletedProcess[str]:
    """`python -m parley_<service>` with only `values` as its PARLEY_ settings (stopped after
    20 s if it does start, so a test that should have seen a refusal fails)."""
    prefix = f"PARLEY_{service.upper()}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env |= {f"{prefix}{name.upper()}": value for name, value in values.items()}
    try:
        return subprocess.run(
            [sys.executable, "-m", f"parley_{service}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        return subprocess.CompletedProcess(exc.cmd, 0, output, "")


@pytest.mark.parametrize("service", SERVICES)
def test_production_refuses_the_local_internal_secret(service: str) -> None:
    result = start(service, environment="production")
    assert result.returncode != 0
    assert "production mode refuses to start" in result.stderr
    assert f"PARLEY_{service.upper()}_INTERNAL_SECRET is a placeholder" in result.stderr


def test_production_refuses_the_env_file_placeholder() -> None:
    result = start("gateway", environment="production", internal_secret=PLACEHOLDER)
    assert result.returncode != 0
    assert "PARLEY_GATEWAY_INTERNAL_SECRET is a placeholder" in result.stderr
