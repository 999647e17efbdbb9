"""The Kubernetes manifests, rendered by the real kustomize: valid for Kubernetes 1.30-1.33
(kubernetes-validate and kubeconform, strict, offline), every setting in exactly one place, no
secret in a ConfigMap, config changes roll pods, and the workloads hardened, spread, bounded
and shut down gracefully."""

import base64
import ipaddress
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_render import (
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    ROOT,
    SERVICES,
    by_kind,
    copy_of_the_tree,
    custom_resource_problems,
    kubeconform_problems,
    kubernetes_problems,
    kustomize_build,
    pod_specs,
    render,
)
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from parley_auth.settings import AuthSettings
from parley_gateway.settings import GatewaySettings
from parley_messaging.settings import MessagingSettings
from parley_search.settings import SearchSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "messaging": MessagingSettings,
    "search": SearchSettings,
    "gateway": GatewaySettings,
}
Object = dict[str, Any]


def prefix(service: str) -> str:
    return str(SETTINGS[service].model_config.get("env_prefix", ""))


def variables(service: str) -> set[str]:
    return {f"{prefix(service)}{name.upper()}" for name in SETTINGS[service].model_fields}


def secret_variables(service: str) -> set[str]:
    """The settings typed as secrets (SecretStr)."""
    return {
        f"{prefix(service)}{name.upper()}"
        for name, field in SETTINGS[service].model_fields.items()
        if field.annotation is SecretStr
    }


def config_data(objects: list[Object]) -> dict[str, str]:
    (config,) = [o for o in objects if o["metadata"]["name"].startswith("parley-config")]
    data: dict[str, str] = config["data"]
    return data


def secret_data(objects: list[Object], service: str) -> dict[str, str]:
    (secret,) = [
        o
        for o in objects
        if o["kind"] == "Secret" and o["metadata"]["name"].startswith(f"parley-{service}-secrets")
    ]
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def container_environment(objects: list[Object], service: str) -> dict[str, str]:
    """What the service's container sees: envFrom sources in order (a later one wins), then
    env. Sources are looked up by their rendered (hashed) names."""
    deployment = by_kind(objects, "Deployment")[f"parley-{service}"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config_maps = by_kind(objects, "ConfigMap")
    secrets = by_kind(objects, "Secret")
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment |= config_maps[source["configMapRef"]["name"]]["data"]
        else:
            data = secrets[source["secretRef"]["name"]].get("data", {})
            environment |= {k: base64.b64decode(v).decode() for k, v in data.items()}
    for variable in container.get("env", []):
        assert "value" in variable, f"{service}: {variable['name']} not from a ConfigMap/Secret"
        environment[variable["name"]] = variable["value"]
    return environment


# --- validity -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_with_kubernetes_validate(overlay: str, version: str) -> None:
    assert kubernetes_problems(render(overlay), version) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_with_kubeconform_offline(overlay: str, version: str) -> None:
    assert kubeconform_problems(render(overlay), version) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd_schemas(overlay: str) -> None:
    objects = render(overlay)
    assert custom_resource_problems(objects) == []


def test_a_broken_manifest_fails_every_validator(tmp_path: Path) -> None:
    deploy = copy_of_the_tree(tmp_path)
    gateway = deploy / "k8s" / "base" / "gateway.yaml"
    documents = list(yaml.safe_load_all(gateway.read_text()))
    documents[0]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    documents[1]["spec"]["portz"] = documents[1]["spec"].pop("ports")  # a typo in the Service
    gateway.write_text(yaml.safe_dump_all(documents))
    monitors = deploy / "monitoring" / "servicemonitors.yaml"
    monitors.write_text(monitors.read_text().replace("scrapeTimeout:", "scrapeTimeOut:", 1))
    route = deploy / "k8s" / "components" / "gateway-api" / "httproute.yaml"
    route.write_text(route.read_text().replace("type: Exact", "type: Exactly", 1))
    objects = kustomize_build(deploy / "k8s" / "overlays" / "prod-gateway-api")

    problems = sorted(kubernetes_problems(objects, "1.30.0"))
    assert len(problems) == 2, problems
    assert problems[0].startswith("Deployment/parley-gateway: 'http' is not of type")
    assert problems[1].startswith("Service/parley-gateway: Additional properties")
    assert sorted(p.split(":")[0] for p in kubeconform_problems(objects, "1.33.0")) == [
        "Deployment/parley-gateway",
        "HTTPRoute/parley-gateway",
        "Service/parley-gateway",
        "ServiceMonitor/parley-gateway",
    ]
    custom = custom_resource_problems(objects)
    assert sorted(p.split(":")[0] for p in custom) == [
        "HTTPRoute/parley-gateway",
        "ServiceMonitor/parley-gateway",
    ], custom


def test_the_hand_written_renderer_is_gone() -> None:
    assert not (ROOT / "tests" / "deploy" / "kustomize_render.py").exists()


# --- settings, config and secrets -----------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_and_secrets_carry_every_setting_once(overlay: str) -> None:
    objects = render(overlay)
    config = set(config_data(objects))
    every = set().union(*(variables(s) for s in SERVICES))
    assert config <= every, f"not a setting of any service: {sorted(config - every)}"
    for service in SERVICES:
        from_secret = set(secret_data(objects, service))
        mine = {v for v in config if v.startswith(prefix(service))}
        assert mine | from_secret == variables(service), (overlay, service)
        assert not mine & from_secret, (overlay, service)
        assert secret_variables(service) <= from_secret, (overlay, service)
        # Each service reads its own Secret only.
        assert all(v.startswith(prefix(service)) for v in from_secret), (overlay, service)


SECRET_NAME = re.compile(r"(SECRET|PASSWORD|API_KEY|PRIVATE_KEY|CREDENTIALS?|TOKEN)$")
URL_WITH_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@")


def secret_problems(objects: list[Object]) -> list[str]:
    secret_values = {
        value
        for service in SERVICES
        for value in secret_data(objects, service).values()
        if len(value) >= 8
    }
    problems = []
    for config in by_kind(objects, "ConfigMap").values():
        for key, value in config.get("data", {}).items():
            name = f"{config['metadata']['name']}/{key}"
            if SECRET_NAME.search(key) or any(key in secret_variables(s) for s in SERVICES):
                problems.append(f"{name}: a secret's name")
            if URL_WITH_CREDENTIALS.match(value):
                problems.append(f"{name}: a URL with credentials")
            if any(secret in value for secret in secret_values):
                problems.append(f"{name}: a Secret's value")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_in_a_config_map(overlay: str) -> None:
    assert secret_problems(render(overlay)) == []


def test_the_secret_check_catches_a_password_a_url_and_a_secret_value() -> None:
    objects = render("prod")
    config = next(o for o in objects if o["metadata"]["name"].startswith("parley-config"))
    auth = secret_data(objects, "auth")
    config["data"] |= {
        "PARLEY_AUTH_KAFKA_PASSWORD": "x",
        "PARLEY_AUTH_MONGO_URL": "mongodb://parley:hunter2@mongo:27017",
        "PARLEY_AUTH_LOG_LEVEL": auth["PARLEY_AUTH_INTERNAL_SECRET"],
    }
    assert sorted(secret_problems(objects)) == [
        f"{config['metadata']['name']}/PARLEY_AUTH_KAFKA_PASSWORD: a secret's name",
        f"{config['metadata']['name']}/PARLEY_AUTH_LOG_LEVEL: a Secret's value",
        f"{config['metadata']['name']}/PARLEY_AUTH_MONGO_URL: a URL with credentials",
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_loads_its_settings_from_what_the_cluster_gives_it(overlay: str) -> None:
    """Each service's settings, built from its container's environment exactly as rendered,
    validate (production mode included), and its ports are the container's ports."""
    objects = render(overlay)
    program = (
        "import json, sys\n"
        "from parley_{s}.settings import {cls}\n"
        "s = {cls}()\n"
        "print(json.dumps([s.port, s.resolved_ops_port, s.environment]))\n"
    )
    for service, settings in SETTINGS.items():
        environment = container_environment(objects, service)
        code = program.format(s=service, cls=settings.__name__)
        loaded = subprocess.run(
            [sys.executable, "-c", code],
            env={"PATH": "/usr/bin:/bin"} | environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert loaded.returncode == 0, f"{overlay}/{service}: {loaded.stderr[-2000:]}"
        port, ops_port, mode = json.loads(loaded.stdout)
        deployment = by_kind(objects, "Deployment")[f"parley-{service}"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": port, "ops": ops_port}, (overlay, service)
        assert mode == ("production" if overlay.startswith("prod") else "local")


def test_prod_secrets_come_from_env_files_git_never_sees() -> None:
    prod = K8S / "overlays" / "prod"
    kustomization = yaml.safe_load((prod / "kustomization.yaml").read_text())
    generators = {g["name"]: g for g in kustomization["secretGenerator"]}
    assert set(generators) == {f"parley-{s}-secrets" for s in SERVICES}
    for service in SERVICES:
        generator = generators[f"parley-{service}-secrets"]
        assert generator["envs"] == [f"secrets/{service}.env"]
        assert "literals" not in generator
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(prod / "secrets" / f"{service}.env")], check=False
        )
        assert ignored.returncode == 0, f"secrets/{service}.env is not git-ignored"
        example = (prod / "secrets" / f"{service}.env.example").read_text()
        keys = {line.partition("=")[0] for line in example.splitlines() if line and line[0] != "#"}
        assert secret_variables(service) <= keys <= variables(service), service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_and_secrets_have_hashed_names_that_every_workload_follows(overlay: str) -> None:
    objects = render(overlay)
    generated = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] in {"ConfigMap", "Secret"}
        and o["metadata"]["name"] != "parley-grafana-dashboard"
    }
    assert len(generated) == 1 + len(SERVICES)
    for name in generated:
        assert re.fullmatch(r"parley-[a-z-]+-[a-z0-9]{10}", name), name
    for workload, pod in pod_specs(objects):
        (container,) = pod["containers"]
        references = {
            s.get("configMapRef", s.get("secretRef", {})).get("name") for s in container["envFrom"]
        }
        assert references <= generated, workload
        assert len(references) == 2, workload


def test_a_config_change_rolls_the_pods(tmp_path: Path) -> None:
    before = render("dev")
    deploy = copy_of_the_tree(tmp_path)
    config = deploy / "k8s" / "base" / "config.env"
    config.write_text(
        config.read_text().replace("PARLEY_AUTH_LOG_LEVEL=INFO", "PARLEY_AUTH_LOG_LEVEL=DEBUG")
    )
    after = kustomize_build(deploy / "k8s" / "overlays" / "dev")
    for name in SERVICES:
        old = by_kind(before, "Deployment")[f"parley-{name}"]["spec"]["template"]
        new = by_kind(after, "Deployment")[f"parley-{name}"]["spec"]["template"]
        assert old != new, f"parley-{name}'s pod template did not change"


def test_the_base_generates_its_config_map_from_the_rendered_settings() -> None:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"] == [
        {"name": "parley-config", "envs": ["config.env"]}
    ]
    assert not (K8S / "base" / "config.yaml").exists()


def test_prod_kafka_topics_get_three_replicas_and_two_in_sync() -> None:
    config = config_data(render("prod"))
    for service in SERVICES:
        assert config[f"{prefix(service)}KAFKA_REPLICATION_FACTOR"] == "3", service
        assert config[f"{prefix(service)}KAFKA_MIN_INSYNC_REPLICAS"] == "2", service
        assert int(config[f"{prefix(service)}KAFKA_PARTITIONS"]) >= 12, service
        assert config[f"{prefix(service)}KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", service
        assert config[f"{prefix(service)}ENVIRONMENT"] == "production", service


# --- workloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_hardened_probed_and_bounded(overlay: str) -> None:
    objects = render(overlay)
    assert set(by_kind(objects, "Deployment")) == {f"parley-{s}" for s in SERVICES}
    for name, pod in pod_specs(objects):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name  # PARLEY_AUTH_PORT=tcp://... otherwise
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"]), name
    for name, deployment in by_kind(objects, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}, name
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}, name
        namespace = {"dev": "parley-dev"}.get(overlay, "parley")
        assert deployment["metadata"]["namespace"] == namespace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_is_scaled_by_an_hpa_and_has_no_replicas(overlay: str) -> None:
    objects = render(overlay)
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in by_kind(objects, "HorizontalPodAutoscaler").values()
        if hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    }
    for name, deployment in by_kind(objects, "Deployment").items():
        assert name in scaled, f"{name} has no HPA"
        assert "replicas" not in deployment["spec"], f"{name} sets replicas under an HPA"
    for hpa in by_kind(objects, "HorizontalPodAutoscaler").values():
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if overlay.startswith("prod"):
        assert all(
            h["spec"]["minReplicas"] >= 2
            for h in by_kind(objects, "HorizontalPodAutoscaler").values()
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_and_spreads_across_nodes(overlay: str) -> None:
    objects = render(overlay)
    budgets = by_kind(objects, "PodDisruptionBudget")
    for name, deployment in by_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b
            for b in budgets.values()
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, name
        assert covering[0]["spec"].get("maxUnavailable") == 1, name
        spread = {
            c["topologyKey"]: c
            for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        }
        assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule", name
        assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway", name
        for constraint in spread.values():
            assert constraint["labelSelector"]["matchLabels"].items() <= labels.items(), name
            assert constraint["maxSkew"] == 1, name


def shutdown_seconds(environment: dict[str, str], service: str) -> float:
    """How long a service may take from SIGTERM to exit: its drain and its graceful shutdown
    (settings `drain_seconds` and `shutdown_grace_seconds`, as the container gets them), or
    uvicorn's graceful shutdown as parley_kit.app.serve fixes it where those do not exist."""
    fields = SETTINGS[service].model_fields
    if "shutdown_grace_seconds" not in fields:
        source = (ROOT / "libs" / "kit" / "src" / "parley_kit" / "app.py").read_text()
        (seconds,) = re.findall(r"timeout_graceful_shutdown=(\d+)", source)
        return float(seconds)
    total = 0.0
    for name in ("drain_seconds", "shutdown_grace_seconds"):
        if name in fields:
            default = fields[name].default
            total += float(environment.get(f"{prefix(service)}{name.upper()}", default))
    return total


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_pod_leaves_the_load_balancers_before_it_stops_and_finishes_in_time(overlay: str) -> None:
    """preStop keeps serving while the endpoint is withdrawn; then SIGTERM starts the drain and
    uvicorn's graceful shutdown; the grace period covers them plus the lifespan's bounded stop."""
    objects = render(overlay)
    for name, deployment in by_kind(objects, "Deployment").items():
        graceful = shutdown_seconds(
            container_environment(objects, name.removeprefix("parley-")),
            name.removeprefix("parley-"),
        )
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pause >= 5, name
        assert pod["terminationGracePeriodSeconds"] >= pause + graceful + 10, name
        rollout = deployment["spec"]["strategy"]["rollingUpdate"]
        assert rollout["maxUnavailable"] == 0, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_believes_forwarded_addresses_and_only_from_private_proxies(
    overlay: str,
) -> None:
    config = config_data(render(overlay))
    for service in SERVICES:
        proxies = json.loads(config[f"{prefix(service)}TRUSTED_PROXIES"])
        if service != "gateway":
            assert proxies == [], service
            continue
        assert proxies, "the gateway sits behind the ingress controller"
        for cidr in proxies:
            network = ipaddress.ip_network(cidr)
            assert network.is_private, cidr
            assert network.prefixlen >= 8, cidr
