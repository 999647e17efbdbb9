"""The Kubernetes manifests render (kustomize) and validate against the Kubernetes schemas,
offline; a deliberately broken copy fails."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kustomize_render import render

from parley_auth.settings import AuthSettings
from parley_gateway.settings import GatewaySettings
from parley_messaging.settings import MessagingSettings
from parley_search.settings import SearchSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
OVERLAYS = ["dev", "prod"]
SERVICES = ["gateway", "auth", "messaging", "search"]


def validate(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    return problems


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    objects = render(K8S / "overlays" / overlay)
    assert validate(objects) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_hardened_probed_and_bounded(overlay: str) -> None:
    objects = render(K8S / "overlays" / overlay)
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {f"parley-{s}" for s in SERVICES}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert {"requests", "limits"} <= set(container["resources"]), name
        assert deployment["metadata"]["namespace"] == f"parley{'-dev' if overlay == 'dev' else ''}"
    assert set(by_kind(objects, "PodDisruptionBudget")) == {f"parley-{s}" for s in SERVICES}
    assert set(by_kind(objects, "HorizontalPodAutoscaler")) == {
        "parley-gateway",
        "parley-messaging",
        "parley-search",
    }
    ingress = by_kind(objects, "Ingress")["parley-gateway"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_config_map_and_secret_carry_every_setting() -> None:
    fields = set()
    for settings in (AuthSettings, MessagingSettings, SearchSettings, GatewaySettings):
        prefix = str(settings.model_config.get("env_prefix", ""))
        fields |= {f"{prefix}{name.upper()}" for name in settings.model_fields}
    for overlay in OVERLAYS:
        objects = render(K8S / "overlays" / overlay)
        config = set(by_kind(objects, "ConfigMap")["parley-config"]["data"])
        from_secret = {
            variable["name"]
            for deployment in by_kind(objects, "Deployment").values()
            for container in deployment["spec"]["template"]["spec"]["containers"]
            for variable in container.get("env", [])
            if "secretKeyRef" in variable.get("valueFrom", {})
        }
        assert config | from_secret == fields, overlay
        assert not config & from_secret, overlay


def test_a_broken_manifest_fails_validation(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    gateway = copy / "base" / "gateway.yaml"
    documents = list(yaml.safe_load_all(gateway.read_text()))
    documents[0]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    documents[1]["spec"]["portz"] = documents[1]["spec"].pop("ports")  # a typo in the Service
    gateway.write_text(yaml.safe_dump_all(documents))
    problems = validate(render(copy / "overlays" / "prod"))
    assert len(problems) == 2
    assert problems[0].startswith("Deployment/parley-gateway: 'http' is not of type")
    assert problems[1].startswith("Service/parley-gateway: Additional properties")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_offline_renderer_matches_kubectl_kustomize(overlay: str) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    official = [doc for doc in yaml.safe_load_all(rendered) if doc]
    ours = render(K8S / "overlays" / overlay)

    def summary(objects: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
        return {
            (
                o["kind"],
                o["metadata"]["name"],
                o["metadata"].get("namespace", ""),
                str(o.get("spec", {}).get("replicas", "")),
            )
            for o in objects
        }

    assert summary(ours) == summary(official)
    assert validate(official) == []
