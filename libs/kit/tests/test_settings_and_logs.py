"""Settings read their prefix from the environment; logs are JSON lines with the request id."""

import json

import pytest
from pydantic_settings import SettingsConfigDict

from parley_kit.logs import configure_logging, get_logger, request_id_var
from parley_kit.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_EXAMPLE_", extra="ignore", frozen=True)

    port: int = 8099


def test_settings_have_local_defaults() -> None:
    settings = ExampleSettings()
    assert settings.port == 8099
    assert settings.mongo_url.startswith("mongodb://127.0.0.1")


def test_settings_read_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_EXAMPLE_PORT", "9100")
    monkeypatch.setenv("PARLEY_OTHER_PORT", "1")
    assert ExampleSettings().port == 9100


def test_logs_are_json_with_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("example", "INFO", json=True)
    token = request_id_var.set("req-1")
    try:
        get_logger("t").info("hello", answer=42)
    finally:
        request_id_var.reset(token)

    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "hello"
    assert record["answer"] == 42
    assert record["request_id"] == "req-1"
    assert record["service"] == "example"
