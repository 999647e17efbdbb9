"""NetworkPolicies, read as the cluster would enforce them: default deny, DNS, only the
gateway open to any source, each service reachable only from the workloads whose settings call
it, each engine only from the workloads whose code uses it, the ops port only from monitoring."""

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from k8s_render import OVERLAYS, ROOT, SERVICES, by_kind, pod_specs, render

ENGINE_PORTS = {
    "mongo": {27017},
    "redis": {6379, 6380},
    "kafka": {9092, 9093},
    "elasticsearch": {9200},
}
# How code reaches each engine (parley_kit's connectors and the search engine client).
ENGINE_USE = {
    "mongo": re.compile(r"\bconnect_mongo\(|\bmongo_cli\("),
    "redis": re.compile(r"\bconnect_redis\("),
    "kafka": re.compile(r"\bKafkaConnection\b|\bparley_kit\.kafka\b|\bparley_kit\.outbox\b"),
    "elasticsearch": re.compile(r"\bconnect_engine\(|\bAsyncElasticsearch\b"),
}
# The code a Job runs (its module and what it calls), beside the image's service.
JOB_CODE = {
    "parley-search-reindex": ["parley_search/__main__.py", "parley_search/reindex.py"],
    "parley-auth-key-rotation": ["parley_auth/rotation.py"],
    "parley-auth-migrate": ["parley_auth/__main__.py", "parley_auth/migrations.py"],
    "parley-messaging-migrate": ["parley_messaging/__main__.py", "parley_messaging/migrations.py"],
    "parley-search-migrate": ["parley_search/__main__.py", "parley_search/migrations.py"],
}
JOB_SERVICE = {
    "parley-search-reindex": "search",
    "parley-auth-key-rotation": "auth",
    "parley-auth-migrate": "auth",
    "parley-messaging-migrate": "messaging",
    "parley-search-migrate": "search",
}


def engines_used(files: list[Path]) -> set[str]:
    text = "\n".join(f.read_text() for f in files)
    return {engine for engine, use in ENGINE_USE.items() if use.search(text)}


def code_of(workload: str) -> list[Path]:
    if workload in JOB_CODE:
        service = JOB_SERVICE[workload]
        return [ROOT / "services" / service / "src" / f for f in JOB_CODE[workload]]
    service = workload.removeprefix("parley-")
    return sorted((ROOT / "services" / service / "src").rglob("*.py"))


def service_calls(config: dict[str, str]) -> set[tuple[str, str]]:
    """(caller, callee) for every *_URL setting of a service naming another service."""
    calls = set()
    for key, value in config.items():
        if not key.endswith("_URL") or "://" not in value:
            continue
        caller = key.split("_")[1].lower()
        host = urlsplit(value).hostname or ""
        callee = host.removeprefix("parley-")
        if caller in SERVICES and callee in SERVICES and callee != caller:
            calls.add((f"parley-{caller}", f"parley-{callee}"))
    return calls


def selected(policy: dict, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    return dict(selector.get("matchLabels", {})).items() <= labels.items()


def policies_of(objects: list, labels: dict[str, str]) -> list[dict]:
    return [p for p in by_kind(objects, "NetworkPolicy").values() if selected(p, labels)]


def workload_labels(objects: list) -> dict[str, dict[str, str]]:
    labels = {}
    for obj in objects:
        if obj["kind"] == "Deployment":
            labels[obj["metadata"]["name"]] = obj["spec"]["template"]["metadata"]["labels"]
        elif obj["kind"] == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
            labels[obj["metadata"]["name"]] = template["metadata"]["labels"]
    return labels


def peers(rule: dict, direction: str) -> list[dict]:
    return list(rule.get("from" if direction == "ingress" else "to", []))


def ports_of(rule: dict) -> set[object]:
    return {p["port"] for p in rule.get("ports", [])}


def ingress_sources(objects: list, workload: str, port: object) -> Iterator[dict]:
    """Every peer allowed to reach `workload` on `port` ({} = any source)."""
    labels = workload_labels(objects)[workload]
    for policy in policies_of(objects, labels):
        for rule in policy["spec"].get("ingress", []):
            if port in ports_of(rule) or not rule.get("ports"):
                yield from peers(rule, "ingress") or [{}]


def pod_peer_names(peers_: list[dict]) -> set[str]:
    names = set()
    for peer in peers_:
        if set(peer) == {"podSelector"}:
            names.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
        else:
            names.add(repr(peer))
    return names


def egress_rules(objects: list, workload: str) -> list[dict]:
    labels = workload_labels(objects)[workload]
    return [
        rule for policy in policies_of(objects, labels) for rule in policy["spec"].get("egress", [])
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_denied_unless_allowed_and_dns_is_allowed(overlay: str) -> None:
    policies = by_kind(render(overlay), "NetworkPolicy")
    deny = policies["parley-default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    dns = policies["parley-dns"]["spec"]
    assert dns["podSelector"] == {}
    (rule,) = dns["egress"]
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
    (peer,) = rule["to"]
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_its_own_policy_for_both_directions(overlay: str) -> None:
    objects = render(overlay)
    for workload, labels in workload_labels(objects).items():
        own = [p for p in policies_of(objects, labels) if p["spec"]["podSelector"] != {}]
        assert len(own) == 1, workload
        assert set(own[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}, workload
    assert set(workload_labels(objects)) == {name for name, _ in pod_specs(objects)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_open_to_any_source(overlay: str) -> None:
    objects = render(overlay)
    for workload in workload_labels(objects):
        for port in ("http", "ops"):
            sources = list(ingress_sources(objects, workload, port))
            open_to_all = {} in sources
            assert open_to_all == (workload == "parley-gateway" and port == "http"), (
                workload,
                port,
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_is_reachable_exactly_from_its_callers(overlay: str) -> None:
    """The callers come from the settings: `PARLEY_SEARCH_MESSAGING_URL=http://parley-messaging`
    means search calls messaging. A Job calls what its service's settings name, if anything."""
    objects = render(overlay)
    (config,) = [o for o in objects if o["metadata"]["name"].startswith("parley-config")]
    calls = service_calls(config["data"])
    assert ("parley-gateway", "parley-messaging") in calls  # the derivation sees the obvious
    for callee in (f"parley-{s}" for s in SERVICES if s != "gateway"):
        sources = pod_peer_names(list(ingress_sources(objects, callee, "http")))
        services = {s for s in sources if s.removeprefix("parley-") in SERVICES}
        assert services == {caller for caller, c in calls if c == callee}, callee
        for job in sources - services:
            assert (f"parley-{JOB_SERVICE[job]}", callee) in calls, (job, callee)
        # and the caller's egress lets the call out
        for caller in sources:
            allowed = [
                r
                for r in egress_rules(objects, caller)
                if callee in pod_peer_names(peers(r, "egress"))
            ]
            assert allowed, (caller, callee)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_engine_is_reached_only_by_the_workloads_whose_code_uses_it(overlay: str) -> None:
    objects = render(overlay)
    for workload in workload_labels(objects):
        used = engines_used(code_of(workload))
        assert used, workload  # the scan found something: it can fail
        reached = set()
        for rule in egress_rules(objects, workload):
            targets = pod_peer_names(peers(rule, "egress"))
            if any(t.startswith("parley-") for t in targets):
                continue  # another Parley service, checked above
            for engine, ports in ENGINE_PORTS.items():
                if ports & ports_of(rule):
                    assert ports_of(rule) == ports, (workload, engine)
                    reached.add(engine)
        assert reached == used, workload


def test_the_engine_scan_tells_the_services_apart() -> None:
    assert engines_used(code_of("parley-search")) == {"kafka", "elasticsearch"}
    assert engines_used(code_of("parley-gateway")) == {"redis", "kafka"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ops_port_is_open_only_to_the_monitoring_namespace(overlay: str) -> None:
    objects = render(overlay)
    for service in SERVICES:
        sources = list(ingress_sources(objects, f"parley-{service}", "ops"))
        assert sources == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ], service
