"""`make run` / `make stop` / `make status`: see parley_run (one supervisor owns the suite)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parley_run.cli import main

if __name__ == "__main__":
    main()
