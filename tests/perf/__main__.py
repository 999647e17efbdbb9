"""`make bench` = `python -m perf` (with `tests` on the path): see `perf/__init__.py`.

`python -m perf --markdown .bench/results-....json` prints a saved run's table as Markdown."""

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from perf.bench import measure
from perf.options import parse_options
from perf.report import build_rows, render_markdown
from perf.suite_process import SuiteForBench


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--markdown"] and len(arguments) == 2:
        results = json.loads(Path(arguments[1]).read_text())
        print(render_markdown(build_rows(results)))
        return 0
    options = parse_options(arguments)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with SuiteForBench(
        options.base, options.out_dir / f"suite-{stamp}.log", allowed_to_start=options.start_suite
    ) as suite:
        how = "started by the bench" if suite.started else "already running"
        print(f"==> measuring {options.base} ({how})", flush=True)
        asyncio.run(measure(options, how))
    return 0


if __name__ == "__main__":
    sys.exit(main())
