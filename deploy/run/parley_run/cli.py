"""`python deploy/run/suite.py [run|stop|status]`: what `make run`, `stop` and `status` call."""

import argparse
import os
import signal
import sys

from parley_run.config import SuiteConfig
from parley_run.engines import EnginesFailed
from parley_run.run import run
from parley_run.status import status
from parley_run.stop import stop

COMMANDS = {"run": run, "stop": stop, "status": status}


def exit_with(result: int) -> None:
    """A negative result: end by that signal, so the caller sees how it ended (128+N in a
    shell, "killed by SIGTERM" to a process manager), as a process without a handler would."""
    if result >= 0:
        sys.exit(result)
    sys.stdout.flush()
    sig = signal.Signals(-result)
    signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    sys.exit(128 + int(sig))  # only if the signal did not end the process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="suite.py", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=sorted(COMMANDS))
    command = parser.parse_args(argv).command
    try:
        config = SuiteConfig.from_environment(os.environ)
    except ValueError as exc:
        print(f"suite.py: bad setting: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        exit_with(COMMANDS[command](config))
    except EnginesFailed as exc:
        print(f"suite.py: {exc}", file=sys.stderr)
        sys.exit(1)
