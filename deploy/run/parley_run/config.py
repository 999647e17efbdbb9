"""What a suite is: its services, their ports and environment, and the limits of the supervisor.

Everything comes from the environment the operator already uses (`PARLEY_<SERVICE>_PORT` and
the other service settings); the runner's own knobs are `PARLEY_RUN_*`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Start order: the gateway last, so it finds its upstreams listening.
DEFAULT_PORTS = {"auth": 8001, "messaging": 8002, "search": 8003, "gateway": 8000}


# A service's ops listener (/readyz, /metrics) is its port + 1000 unless PARLEY_<SERVICE>_OPS_PORT.
OPS_PORT_OFFSET = 1000


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    ops_port: int

    @property
    def module(self) -> str:
        return f"parley_{self.name}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        """Where readiness is asked: never the service's own (for the gateway, public) port."""
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def env_prefix(self) -> str:
        return f"PARLEY_{self.name.upper()}_"


@dataclass(frozen=True)
class RestartPolicy:
    """A crashed service comes back after `first_delay`, doubling up to `max_delay`; a run of
    `stable_after` seconds resets the delay. Before a service was ever ready, `startup_attempts`
    exits in a row end the start (a configuration error should fail fast, not loop)."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 30.0
    startup_attempts: int = 3


@dataclass(frozen=True)
class SuiteConfig:
    services: tuple[ServiceSpec, ...]
    state_dir: Path
    ready_timeout: float
    stop_grace: float
    restart: RestartPolicy
    engines: str  # PARLEY_STACK: local, docker, external or auto

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "SuiteConfig":
        services = []
        for name, default in DEFAULT_PORTS.items():
            port = int(env.get(f"PARLEY_{name.upper()}_PORT", str(default)))
            ops_port = int(
                env.get(f"PARLEY_{name.upper()}_OPS_PORT") or str(port + OPS_PORT_OFFSET)
            )
            services.append(ServiceSpec(name, port, ops_port))
        stack_dir = Path(env.get("PARLEY_STACK_DIR", str(ROOT / ".stack")))
        return cls(
            services=tuple(services),
            state_dir=Path(env.get("PARLEY_RUN_STATE_DIR", str(stack_dir / "suite"))),
            ready_timeout=float(env.get("PARLEY_RUN_READY_TIMEOUT", "180")),
            # Above the services' own graceful-shutdown bound (in-flight requests: 10 s, no
            # drain under `make run`), below 15 s.
            stop_grace=float(env.get("PARLEY_RUN_STOP_GRACE", "12")),
            restart=RestartPolicy(),
            engines=env.get("PARLEY_STACK", "auto").strip().lower() or "auto",
        )

    @property
    def gateway(self) -> ServiceSpec:
        return self.service("gateway")

    def service(self, name: str) -> ServiceSpec:
        return next(spec for spec in self.services if spec.name == name)

    def service_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` plus what ties the services together on the chosen ports; a value the
        operator set wins, except the port (it is what the suite was asked to use)."""
        auth, messaging, search = (self.service(n) for n in ("auth", "messaging", "search"))
        derived: dict[str, str] = {}
        for spec in self.services:
            derived[f"{spec.env_prefix}JWKS_URL"] = f"{auth.url}/.well-known/jwks.json"
            # One replica each: no other would take the connections a drain refuses, so a
            # stop goes straight to finishing in-flight requests (parley_kit.draining).
            derived[f"{spec.env_prefix}DRAIN_SECONDS"] = "0"
        derived |= {
            "PARLEY_AUTH_PUBLIC_URL": auth.url,
            "PARLEY_MESSAGING_AUTH_URL": auth.url,
            "PARLEY_SEARCH_MESSAGING_URL": messaging.url,
            "PARLEY_SEARCH_AUTH_URL": auth.url,
            "PARLEY_GATEWAY_AUTH_URL": auth.url,
            "PARLEY_GATEWAY_MESSAGING_URL": messaging.url,
            "PARLEY_GATEWAY_SEARCH_URL": search.url,
        }
        ports = {f"{spec.env_prefix}PORT": str(spec.port) for spec in self.services} | {
            f"{spec.env_prefix}OPS_PORT": str(spec.ops_port) for spec in self.services
        }
        return derived | dict(base) | ports | {"PYTHONUNBUFFERED": "1"}
