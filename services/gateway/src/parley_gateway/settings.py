"""Gateway settings (env prefix `PARLEY_GATEWAY_`); every one has a local default."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from parley_kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_GATEWAY_", extra="ignore", frozen=True)

    port: int = 8000
    auth_url: str = "http://127.0.0.1:8001"
    messaging_url: str = "http://127.0.0.1:8002"
    search_url: str = "http://127.0.0.1:8003"

    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    request_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "the longest the gateway waits for a service; the call carries X-Parley-Deadline a"
            " little earlier, so the service gives up first and a caller gets a 503, never a 504"
        ),
    )
    search_timeout_seconds: float = Field(default=5.0, gt=0)
    deadline_margin_seconds: float = Field(
        default=0.25,
        ge=0,
        description="how much earlier than the gateway's own timeout a service's deadline falls",
    )
    max_connections: int = Field(
        default=0,
        ge=0,
        description=(
            "httpx pool to the services; 0 = the gateway's in-flight bound plus 64 (an admitted"
            " request mostly holds one upstream connection; the rest serve sockets and JWKS)"
        ),
    )
    pool_timeout_seconds: float = Field(
        default=0.1,
        gt=0,
        description="the longest a call waits for a free pooled connection before a 503",
    )

    cors_origins: list[str] = Field(
        default_factory=list, description="allowed browser origins; empty disables CORS"
    )

    user_rate_per_second: float = Field(default=50.0, gt=0)
    user_burst: int = Field(default=200, ge=1)
    ip_rate_per_second: float = Field(
        default=100.0, gt=0, description="unauthenticated requests per client IP"
    )
    ip_burst: int = Field(default=400, ge=1)

    relay_group_id: str = "parley-gateway-relay"
    socket_channel: str = Field(default="parley-socketio", description="Redis pub/sub channel")
    socket_max_per_user: int = Field(
        default=20, ge=1, description="open sockets per user, every replica together"
    )
    socket_events_per_second: float = Field(
        default=20.0,
        gt=0,
        description="client socket events (sync, typing, reauth, any) per user, sustained;"
        " beyond the burst an event is answered with a 429 error ack and does no work",
    )
    socket_event_burst: int = Field(default=60, ge=1)
    socket_reauth_lead_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how long before a socket's access token expires it receives"
        " reauth_required (0: none); at expiry without a reauth it is disconnected",
    )
    socket_registry_check_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often a replica checks that Redis still holds its sockets (after a"
        " Redis restart it re-registers them and re-reads their rooms)",
    )
    typing_interval_seconds: float = Field(default=2.0, ge=0)
    presence_ttl_seconds: int = Field(
        default=60,
        ge=2,
        description="a socket's registration lives this long unless its replica re-asserts it"
        " (every third of it); a dead replica's users are announced offline within 4/3 of it",
    )
    sync_limit: int = Field(default=100, ge=1, le=100)
    socket_transports: list[Literal["polling", "websocket"]] = Field(
        default=["polling", "websocket"],
        min_length=1,
        description="Engine.IO transports served (JSON list); behind a load balancer without"
        ' sticky sessions only ["websocket"], since a polling session is many requests that'
        " must all reach the replica holding it",
    )
