"""`make run`: start the four services under honcho, wait until each is ready, print the URLs.

The engines are already up (`make stack-up` runs first). Ctrl-C stops every service this
started. A second `make run` while one is running says so and exits instead of failing on busy
ports.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = Path(__file__).with_name("Procfile")
SERVICES = {
    "auth": int(os.environ.get("PARLEY_AUTH_PORT", "8001")),
    "messaging": int(os.environ.get("PARLEY_MESSAGING_PORT", "8002")),
    "search": int(os.environ.get("PARLEY_SEARCH_PORT", "8003")),
    "gateway": int(os.environ.get("PARLEY_GATEWAY_PORT", "8000")),
}
READY_TIMEOUT = float(os.environ.get("PARLEY_RUN_READY_TIMEOUT", "180"))
COMPOSE_FILE = ROOT / "docker-compose.yml"


def engine_mode() -> str:
    """`PARLEY_STACK=local|docker` forces one; otherwise Docker when an engine answers."""
    forced = os.environ.get("PARLEY_STACK", "").strip().lower()
    if forced in {"local", "docker"}:
        return forced
    if forced and forced != "auto":
        raise SystemExit(f"PARLEY_STACK must be local, docker or auto, not {forced!r}")
    sys.path.insert(0, str(ROOT / "libs" / "kit" / "src"))
    from parley_kit.testing.stack import docker_answers

    return "docker" if docker_answers() else "local"


def engine_services() -> list[str]:
    """The compose services that are engines (everything not built from this repository)."""
    import yaml

    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return [name for name, spec in document["services"].items() if "build" not in spec]


def start_engines(mode: str) -> dict[str, str]:
    """Bring the engines up; returns the environment the services need for them."""
    if mode == "docker":
        print("==> engines: docker compose (PARLEY_STACK=local to use local processes)", flush=True)
        subprocess.run(
            [
                "docker",
                "compose",
                "-f",
                str(COMPOSE_FILE),
                "up",
                "-d",
                "--wait",
                *engine_services(),
            ],
            check=True,
            cwd=ROOT,
        )
        return {"PARLEY_SEARCH_ENGINE": "elasticsearch"}
    print("==> engines: local processes (deploy/local; logs in .stack/logs/)", flush=True)
    subprocess.run([sys.executable, str(ROOT / "deploy" / "local" / "stack.py"), "up"], check=True)
    return {}


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def gateway_url() -> str:
    return f"http://127.0.0.1:{SERVICES['gateway']}"


def print_banner() -> None:
    base = gateway_url()
    slug = f"demo-{int(time.time())}"
    body = (
        f'{{"name":"Demo","slug":"{slug}","owner":{{"username":"ada",'
        '"email":"ada@example.com","password":"correct-horse-battery"}}'
    )
    print(
        f"""
Parley is ready.
  gateway   {base}
  API docs  {base}/docs   (OpenAPI: {base}/openapi.json)
  socket    {base}/socket.io  (Socket.IO, auth: {{"token": <access_token>}})
  logs      above, one prefix per service; engine logs in .stack/logs/

Try it (creates a tenant, then calls the API with the owner's token):
  TOKEN=$(curl -s -XPOST {base}/v1/tenants -H 'content-type: application/json' -d '{body}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["access_token"])')
  curl -s {base}/v1/auth/me -H "Authorization: Bearer $TOKEN"

Ctrl-C stops everything started here.
""",
        flush=True,
    )


def wait_ready(process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = dict(SERVICES)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        for name, port in list(pending.items()):
            if answers(f"http://127.0.0.1:{port}/readyz"):
                print(f"==> {name} ready on http://127.0.0.1:{port}", flush=True)
                del pending[name]
        time.sleep(0.5)
    if pending:
        names = ", ".join(pending)
        print(
            f"==> not ready after {READY_TIMEOUT:.0f}s: {names} "
            "(see its lines above; its /readyz names the failing dependency)",
            file=sys.stderr,
            flush=True,
        )
        return False
    return True


def main() -> int:
    if answers(f"{gateway_url()}/healthz"):
        print(f"Parley is already running at {gateway_url()} (docs: {gateway_url()}/docs).")
        return 0
    busy = [
        f"{name}:{port}"
        for name, port in SERVICES.items()
        if answers(f"http://127.0.0.1:{port}/healthz")
    ]
    if busy:
        print(f"Some services are already running ({', '.join(busy)}); stop them first.")
        return 1
    try:
        engines_env = start_engines(engine_mode())
    except subprocess.CalledProcessError as exc:
        print(f"==> the engines did not start ({exc}); see the messages above.", file=sys.stderr)
        return 1
    env = os.environ | engines_env | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(PROCFILE), "-d", str(ROOT)],
        env=env,
        cwd=ROOT,
    )
    try:
        if wait_ready(process):
            print_banner()
        elif process.poll() is None:
            process.send_signal(signal.SIGINT)
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            return 130


if __name__ == "__main__":
    sys.exit(main())
