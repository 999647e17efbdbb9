#!/app/.venv/bin/python
"""The image's HEALTHCHECK (and compose's): GET a path, `/readyz` by default, on this service's
ops port, the listener that serves probes (no curl in a slim image).

    parley-healthcheck [/readyz|/healthz]

The ops port is `PARLEY_<SERVICE>_OPS_PORT`, or the service port + 1000 when that is unset or
empty, as `ServiceSettings.resolved_ops_port` resolves it. Exit 0 on a 200, 1 otherwise.
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {"gateway": 8000, "auth": 8001, "messaging": 8002, "search": 8003}


def ops_port(service: str) -> int:
    prefix = f"PARLEY_{service.upper()}_"
    configured = os.environ.get(f"{prefix}OPS_PORT", "")
    if configured:
        return int(configured)
    return int(os.environ.get(f"{prefix}PORT") or DEFAULT_PORTS.get(service, 8000)) + 1000


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/readyz"
    service = os.environ.get("PARLEY_SERVICE", "gateway")
    url = f"http://127.0.0.1:{ops_port(service)}{path}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError, ValueError):
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
