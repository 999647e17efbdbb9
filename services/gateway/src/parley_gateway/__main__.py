"""`python -m parley_gateway` serves the gateway (HTTP edge and Socket.IO)."""

import sys

from parley_gateway.settings import GatewaySettings
from parley_kit.app import serve


def main(argv: list[str]) -> int:
    if argv[1:]:
        print("usage: python -m parley_gateway", file=sys.stderr)
        return 2
    # Behind a trusted proxy (PARLEY_GATEWAY_TRUSTED_PROXIES), its X-Forwarded-For names the
    # client; otherwise the peer address does, and a client-sent X-Forwarded-For is ignored.
    serve("parley_gateway.main:create_app", GatewaySettings(), factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
