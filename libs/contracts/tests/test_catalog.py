"""The event catalogue (docs/events.md, docs/events/*.json) is what the contracts render.
(test_events checks each schema against the events the contracts build.)"""

from pathlib import Path

from parley_contracts.catalog import render

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_catalogue_is_what_the_contracts_render() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in render(ROOT).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run `uv run python -m parley_contracts.catalog` and commit the result"
