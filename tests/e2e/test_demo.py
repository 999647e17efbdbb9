"""`make demo` against the real suite: it seeds a mention and a pin, and can run again."""

import pytest

from parley_client.demo import seed


async def test_demo_shows_a_mention_and_a_pin_and_runs_twice(
    gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await seed(gateway) == 0
    first = capsys.readouterr().out
    assert 'mention   bob -> cy in "launch": "@cy can you check the release notes' in first
    assert "cy: 1 unread mention(s)" in first
    pinned = "Welcome to Parley! The launch is on Friday."
    assert f'pin       ada pinned in "launch": "{pinned}"' in first

    assert await seed(gateway) == 0  # a second run reuses the tenant, the mention and the pin
    second = capsys.readouterr().out
    assert 'pin       ada pinned in "launch": "Welcome to Parley!' in second
    assert "cy: 1 unread mention(s)" in second
