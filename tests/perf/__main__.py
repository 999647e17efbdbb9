"""`make bench` = `python -m perf` (with `tests` on the path): see `perf/__init__.py`."""

import asyncio
import sys
from datetime import UTC, datetime

from perf.bench import measure
from perf.options import parse_options
from perf.suite_process import SuiteForBench


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
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
