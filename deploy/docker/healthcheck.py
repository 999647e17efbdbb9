#!/app/.venv/bin/python
"""The image's HEALTHCHECK: GET /healthz on this service's port (no curl in a slim image)."""

import os
import sys
import urllib.request

DEFAULT_PORTS = {"gateway": 8000, "auth": 8001, "messaging": 8002, "search": 8003}

service = os.environ.get("PARLEY_SERVICE", "gateway")
port = os.environ.get(f"PARLEY_{service.upper()}_PORT", str(DEFAULT_PORTS.get(service, 8000)))
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
