"""The README documents every setting a service reads (so the table cannot silently rot)."""

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from parley_auth.settings import AuthSettings
from parley_gateway.settings import GatewaySettings
from parley_kit.settings import ServiceSettings
from parley_messaging.settings import MessagingSettings
from parley_search.settings import SearchSettings

README = Path(__file__).resolve().parents[2] / "README.md"
SERVICES: list[type[BaseSettings]] = [
    AuthSettings,
    MessagingSettings,
    SearchSettings,
    GatewaySettings,
]


def undocumented(readme: str) -> list[str]:
    section = readme.partition("## Configuration")[2].partition("\n## ")[0]
    words = set(re.findall(r"[A-Z][A-Z0-9_]+", section))
    missing = [name.upper() for name in ServiceSettings.model_fields if name.upper() not in words]
    for settings in SERVICES:
        prefix = str(settings.model_config.get("env_prefix", ""))
        for name in settings.model_fields:
            if name in ServiceSettings.model_fields:
                continue
            full, short = f"{prefix}{name.upper()}", f"_{name.upper()}"
            if full not in words and not any(w.endswith(short) or w == short[1:] for w in words):
                missing.append(full)
    return missing


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    assert undocumented(README.read_text()) == []


def test_the_check_catches_a_missing_setting() -> None:
    broken = README.read_text().replace("PARLEY_GATEWAY_USER_RATE_PER_SECOND", "")
    assert "PARLEY_GATEWAY_USER_RATE_PER_SECOND" in undocumented(broken)
