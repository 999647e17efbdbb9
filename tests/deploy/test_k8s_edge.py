"""The public edge: an Ingress with a class and no controller's annotations, a Gateway API
HTTPRoute with the same matches, both routing exactly the gateway's public paths to its
public port; /readyz and /metrics (and the ops port) never reachable through them."""

import ast
from typing import Any

import pytest
from k8s_render import OVERLAYS, ROOT, by_kind, render

from parley_gateway.api import docs, proxy, seed
from parley_kit.listeners import OPS_PATHS

Object = dict[str, Any]
# One concrete request path per gateway route (path parameters filled in), and Socket.IO.
SOCKET_IO = "/socket.io/"


def gateway_paths() -> set[str]:
    paths = {SOCKET_IO}
    for router in (proxy.router, seed.router, docs.router):
        for route in router.routes:
            path = str(getattr(route, "path", ""))
            paths.add(
                path.replace("{path:path}", "conversations").replace("{", "").replace("}", "")
            )
    return paths


def matches(kind: str, value: str, path: str) -> bool:
    """Ingress/Gateway API path matching: Exact is equality; Prefix matches whole path
    elements (`/v1` matches `/v1` and `/v1/x`, not `/v1x`)."""
    if kind == "Exact":
        return path == value
    elements = [e for e in value.split("/") if e]
    return [e for e in path.split("/") if e][: len(elements)] == elements


def ingress_matches(ingress: Object) -> set[tuple[str, str]]:
    found = set()
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            found.add((path["pathType"], path["path"]))
    return found


def route_matches(route: Object) -> set[tuple[str, str]]:
    kinds = {"PathPrefix": "Prefix", "Exact": "Exact"}
    return {
        (kinds[m["path"]["type"]], m["path"]["value"])
        for rule in route["spec"]["rules"]
        for m in rule["matches"]
    }


def exposure_problems(routes: set[tuple[str, str]]) -> list[str]:
    problems = [
        f"{kind} {value} routes {ops}"
        for kind, value in routes
        for ops in OPS_PATHS
        if matches(kind, value, ops)
    ]
    public = gateway_paths()
    for path in sorted(public):
        if not any(matches(kind, value, path) for kind, value in routes):
            problems.append(f"{path} is not routed")
    for kind, value in sorted(routes):
        if not any(matches(kind, value, path) for path in public):
            problems.append(f"{kind} {value} reaches no gateway route")
    return problems


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_ingress_is_controller_neutral_and_routes_only_public_paths(overlay: str) -> None:
    objects = render(overlay)
    ingress = by_kind(objects, "Ingress")["parley-gateway"]
    assert not ingress["metadata"].get("annotations"), "controller-specific annotations"
    assert ingress["spec"]["ingressClassName"]
    assert exposure_problems(ingress_matches(ingress)) == []
    service = by_kind(objects, "Service")["parley-gateway"]
    http = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend == {"name": "parley-gateway", "port": {"name": "http"}}
    assert "http" in http
    assert "sessionAffinity" not in service["spec"]  # Socket.IO runs on websockets only
    if overlay == "prod":
        assert ingress["spec"]["tls"][0]["secretName"]


def test_the_exposure_check_catches_an_ops_path_and_a_catch_all() -> None:
    assert sorted(exposure_problems({("Prefix", "/")})) == sorted(
        f"Prefix / routes {ops}" for ops in OPS_PATHS
    )
    assert "Exact /metrics routes /metrics" in exposure_problems({("Exact", "/metrics")})
    assert "/docs is not routed" in exposure_problems({("Prefix", "/v1")})


def test_the_httproute_alternative_routes_the_same_paths_and_replaces_the_ingress() -> None:
    objects = render("prod-gateway-api")
    assert "Ingress" not in {o["kind"] for o in objects}
    route = by_kind(objects, "HTTPRoute")["parley-gateway"]
    ingress = by_kind(render("prod"), "Ingress")["parley-gateway"]
    assert route_matches(route) == ingress_matches(ingress)
    assert exposure_problems(route_matches(route)) == []
    assert route["metadata"]["namespace"] == "parley"
    assert route["spec"]["hostnames"] == [r["host"] for r in ingress["spec"]["rules"]]
    service = by_kind(objects, "Service")["parley-gateway"]
    http = {p["name"]: p["port"] for p in service["spec"]["ports"]}["http"]
    for rule in route["spec"]["rules"]:
        assert rule["backendRefs"] == [{"name": "parley-gateway", "port": http}]
    (parent,) = route["spec"]["parentRefs"]
    assert parent["kind"] == "Gateway"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_route_names_the_ops_port(overlay: str) -> None:
    objects = render(overlay)
    text = repr([o for o in objects if o["kind"] in {"Ingress", "HTTPRoute"}])
    assert "'ops'" not in text
    for service in by_kind(objects, "Service").values():
        if service["spec"].get("type") == "ExternalName":
            continue
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]


def test_the_parley_client_connects_over_websockets_only() -> None:
    """No sticky sessions at the edge: a polling transport would need every poll of a session
    to reach the same replica (docs/operations.md, "The edge and Socket.IO")."""
    source = (ROOT / "libs" / "client" / "src" / "parley_client" / "socket.py").read_text()
    transports = [
        ast.literal_eval(keyword.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "transports"
    ]
    assert transports == [["websocket"]]
