"""Socket.IO without sticky sessions: every deployment with replicas behind a load balancer
(each Kubernetes overlay, compose) gives the gateway websocket as its only transport, from the
config its container really gets (the rendered ConfigMap the Deployment reads; the environment
compose-go resolves), read by the gateway's own settings model."""

import pytest
from compose_project import resolved_as_documented
from k8s_render import OVERLAYS, by_kind, render

from parley_gateway.settings import GatewaySettings

VARIABLE = "PARLEY_GATEWAY_SOCKET_TRANSPORTS"


def transports(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(VARIABLE, environment[VARIABLE])
    return list(GatewaySettings().socket_transports)


def gateway_config(overlay: str) -> dict[str, str]:
    objects = render(overlay)
    (deployment,) = [d for n, d in by_kind(objects, "Deployment").items() if n == "parley-gateway"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (config_name,) = [
        source["configMapRef"]["name"]
        for source in container["envFrom"]
        if "configMapRef" in source
    ]
    data: dict[str, str] = by_kind(objects, "ConfigMap")[config_name]["data"]
    return data


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_serves_websocket_only(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert transports(gateway_config(overlay), monkeypatch) == ["websocket"]


def test_compose_serves_websocket_only(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = resolved_as_documented()["services"]["gateway"]["environment"]
    assert transports(environment, monkeypatch) == ["websocket"]


def test_the_local_default_keeps_polling_for_the_tests_that_use_it() -> None:
    assert GatewaySettings().socket_transports == ["polling", "websocket"]
