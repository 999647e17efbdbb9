"""`make bench` against whatever answers at `--base`; with nothing there (and a local URL), it
starts the suite with `deploy/run/suite.py` (as `make run` does) and stops it afterwards."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
SUITE_SCRIPT = ROOT / "deploy" / "run" / "suite.py"
READY_TIMEOUT = 300.0
BENCH_BOUNDS = {
    "PARLEY_AUTH_SIGNUPS_PER_IP": "100000",
    "PARLEY_AUTH_PASSWORD_HASHES_PER_IP": "32",
}
STOP_TIMEOUT = 40.0


def ops_base(base: str) -> str:
    """The gateway's ops listener (/readyz, /metrics) beside the public `base`: its port + 1000,
    as `make run` places it, unless PARLEY_GATEWAY_OPS_PORT says otherwise."""
    url = urlsplit(base)
    port = os.environ.get("PARLEY_GATEWAY_OPS_PORT") or str((url.port or 80) + 1000)
    return f"{url.scheme}://{url.hostname}:{port}"


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{ops_base(base)}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class SuiteForBench:
    """`with SuiteForBench(base, log) as suite:` leaves a ready suite at `base`; `suite.started`
    says whether this started it (and so will stop it)."""

    def __init__(self, base: str, log: Path, allowed_to_start: bool = True) -> None:
        self.base = base
        self.log = log
        self.allowed_to_start = allowed_to_start
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def started(self) -> bool:
        return self.process is not None

    def __enter__(self) -> "SuiteForBench":
        if ready(self.base):
            return self
        url = urlsplit(self.base)
        if not self.allowed_to_start or url.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit(
                f"nothing ready at {ops_base(self.base)}/readyz (start it, or use a local URL)"
            )
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # The bench is one client address creating hundreds of accounts at once: the abuse
        # bounds per address exist to stop exactly that, so the suite it starts lifts them
        # (an explicit setting in the environment still wins).
        environment = BENCH_BOUNDS | dict(os.environ) | {"PYTHONUNBUFFERED": "1"}
        if url.port:
            environment["PARLEY_GATEWAY_PORT"] = str(url.port)
        print(f"==> no suite ready at {self.base}; starting one (log: {self.log})", flush=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(SUITE_SCRIPT), "run"],
                env=environment,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C of the bench reaches it only through __exit__
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready(self.base):
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                if ready(self.base):  # another `make run` won the race: use it
                    return self
                raise SystemExit(
                    f"the suite exited with {code} before it was ready; see {self.log}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(
                    f"the suite was not ready after {READY_TIMEOUT:.0f} s; see {self.log}"
                )
            time.sleep(1.0)
        print(f"==> suite ready at {self.base}", flush=True)
        return self

    def stop(self) -> None:
        """Ctrl-C as a person would (suite.py stops its services), then harder if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        print("==> stopping the suite the bench started", flush=True)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Its own session: the group is exactly what this started.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
