"""The e2e process suite with two replicas of auth and of the gateway, and the settings an
operations test needs (short token lifetime, short key-rotation waits). Replicas are named
`<service>-2`; each runs as its own process on its own port, configured only by environment."""

import signal
import subprocess
from dataclasses import dataclass, field

from e2e_suite import ProcessSuite

from parley_kit.testing.servers import free_port

REPLICAS = ("auth-2", "gateway-2")
ACCESS_TOKEN_SECONDS = 30


@dataclass
class ReplicatedSuite(ProcessSuite):
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ports |= {replica: free_port() for replica in REPLICAS}
        self.ops_ports |= {replica: free_port() for replica in REPLICAS}
        keys = {
            "ACCESS_TOKEN_SECONDS": str(ACCESS_TOKEN_SECONDS),
            "KEY_PUBLISH_SECONDS": "2",
            "KEY_RETIRE_MARGIN_SECONDS": "2",
            "KEY_POLL_SECONDS": "0.2",
        }
        self.overrides = {
            "auth": keys | {"PUBLIC_URL": self.url("auth")},
            "auth-2": keys | {"PUBLIC_URL": self.url("auth-2")},
            # The gateways verify tokens with the second auth replica's JWKS while the first
            # issues them: a replica that lags behind a promotion would show as a 401.
            # A few users call without pause: their per-user bound stays on, out of the way.
            "gateway": {
                "JWKS_URL": f"{self.url('auth-2')}/.well-known/jwks.json",
                "USER_RATE_PER_SECOND": "2000",
                "USER_BURST": "4000",
            },
            "gateway-2": {
                "JWKS_URL": f"{self.url('auth-2')}/.well-known/jwks.json",
                "USER_RATE_PER_SECOND": "2000",
                "USER_BURST": "4000",
            },
        }

    @staticmethod
    def service_of(name: str) -> str:
        """`gateway-2` runs the gateway."""
        return name.split("-")[0]

    def environment(self, service: str) -> dict[str, str]:
        """`service` may name a replica: its own port, the rest as its service."""
        kind = self.service_of(service)
        values = super().environment(kind)
        prefix = f"PARLEY_{kind.upper()}_"
        values[f"{prefix}PORT"] = str(self.ports[service])
        values[f"{prefix}OPS_PORT"] = str(self.ops_ports[service])
        values |= {f"{prefix}{k}": v for k, v in self.overrides.get(service, {}).items()}
        return values

    def start_all(self) -> None:
        for name in ("auth", "auth-2", "messaging", "search", "gateway", "gateway-2"):
            self.start(name)
        self.wait_ready(*self.processes)

    def terminate(self, service: str) -> subprocess.Popen[bytes]:
        """SIGTERM, as Kubernetes sends after preStop: the process drains and exits."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGTERM)
        return process
