"""Render deploy/k8s with the real kustomize and validate what it renders, offline.

- `render(overlay)`: the objects `kustomize build` makes of an overlay (`dev`, `prod`,
  `prod-gateway-api`), rendered once per test run. The prod overlays read Secrets from
  `secrets/*.env`, which are never committed: they are rendered from a copy of the tree whose
  env files are made from the committed `*.env.example` with a random value for each secret.
- `kubernetes_problems(objects, version)`: kubernetes-validate, strict, for built-in kinds.
- `kubeconform_problems(objects, version)`: kubeconform, strict, offline: built-in kinds
  against the same schemas kubernetes-validate ships, custom resources against the CRD schemas
  in `schemas/`.
- `custom_resource_problems(objects)`: the CRD schemas, checked in Python (jsonschema).
"""

import importlib.util
import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MONITORING = ROOT / "deploy" / "monitoring"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
OVERLAYS = ["dev", "prod", "prod-gateway-api"]
KUBERNETES_VERSIONS = ["1.30.0", "1.31.0", "1.32.0", "1.33.0"]
SERVICES = ["gateway", "auth", "messaging", "search"]
CUSTOM_KINDS = {"HTTPRoute", "ServiceMonitor", "PrometheusRule"}

# deploy/tools.py builds and caches kustomize and kubeconform; loaded under a name of its own
# (it is a script, not a package).
_spec = importlib.util.spec_from_file_location("parley_deploy_tools", ROOT / "deploy" / "tools.py")
assert _spec is not None
assert _spec.loader is not None
tools = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tools)

Object = dict[str, Any]


def kustomize_build(directory: Path) -> list[Object]:
    rendered = subprocess.run(
        [str(tools.binary("kustomize")), "build", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if rendered.returncode != 0:
        raise AssertionError(f"kustomize build {directory} failed:\n{rendered.stderr}")
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def copy_of_the_tree(target: Path) -> Path:
    """deploy/k8s and deploy/monitoring under `target`, with prod's secret env files filled in
    from their examples (a random value for every empty or PASSWORD placeholder)."""
    deploy = target / "deploy"
    shutil.copytree(K8S, deploy / "k8s", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(MONITORING, deploy / "monitoring")
    internal = secrets.token_hex(32)  # the same in every service, as the examples ask
    for example in (deploy / "k8s" / "overlays" / "prod" / "secrets").glob("*.env.example"):
        lines = []
        for line in example.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                if name.endswith("_INTERNAL_SECRET"):
                    value = internal
                elif not value:
                    value = secrets.token_hex(16)
                value = value.replace("PASSWORD", secrets.token_hex(8))
                line = f"{name}={value}"
            lines.append(line)
        example.with_suffix("").write_text("\n".join(lines) + "\n")
    return deploy


_KEEP: list[tempfile.TemporaryDirectory[str]] = []


@cache
def _tree() -> Path:
    scratch = tempfile.TemporaryDirectory(prefix="parley-k8s-")
    _KEEP.append(scratch)  # removed when the test process ends
    return copy_of_the_tree(Path(scratch.name))


@cache
def _render(overlay: str) -> str:
    return json.dumps(kustomize_build(_tree() / "k8s" / "overlays" / overlay))


def render(overlay: str) -> list[Object]:
    """A fresh copy of the objects of `overlay` (tests may change what they get)."""
    objects: list[Object] = json.loads(_render(overlay))
    return objects


def by_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[Object]) -> Iterator[tuple[str, Object]]:
    """(workload name, pod spec) of every Deployment and CronJob."""
    for obj in objects:
        if obj["kind"] == "Deployment":
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
        elif obj["kind"] == "CronJob":
            yield obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def kubernetes_problems(objects: list[Object], version: str) -> list[str]:
    problems = []
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    return problems


def _strict(schema: Any) -> Any:
    """Like kubeconform's openapi2jsonschema in strict mode: an object schema that lists its
    properties allows no others (unless it preserves unknown fields)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def schema_file(obj: Object) -> str:
    """kubeconform's file name of an object's schema: `<kind>[-<group>]-<version>.json`."""
    group, _, version = obj["apiVersion"].rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{obj['kind'].lower()}{suffix}.json"


@cache
def custom_resource_schema(name: str) -> Object:
    schema: Object = _strict(json.loads((SCHEMAS / name).read_text()))
    # apiVersion, kind and metadata are checked by the API server, not the CRD's schema.
    for field in ("apiVersion", "kind", "metadata"):
        schema["properties"].setdefault(field, {})
    return schema


def custom_resource_problems(objects: list[Object]) -> list[str]:
    problems = []
    for obj in objects:
        if obj["kind"] not in CUSTOM_KINDS:
            continue
        schema_path = SCHEMAS / schema_file(obj)
        if not schema_path.exists():
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: no schema {schema_path}")
            continue
        validator = jsonschema.Draft7Validator(custom_resource_schema(schema_path.name))
        for error in validator.iter_errors(obj):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {error.message}")
    return problems


def _definitions_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and "#/$defs/" in value:
                yield value.rpartition("#/$defs/")[2]
            else:
                yield from _definitions_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from _definitions_of(item)


def kubeconform_schemas(objects: list[Object], version: str, target: Path) -> Path:
    """Standalone schemas for kubeconform under `target`: each built-in kind's schema from
    kubernetes-validate with the definitions it reaches inlined (kubeconform resolves no
    reference to another file), and the custom resources' schemas from `schemas/`."""
    source = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{version}-local-strict"
    )
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    target.mkdir(parents=True, exist_ok=True)
    for name in {schema_file(obj) for obj in objects}:
        if (SCHEMAS / name).exists():
            (target / name).write_text(json.dumps(custom_resource_schema(name)))
            continue
        schema = json.loads((source / name).read_text())
        reached: set[str] = set()
        pending = list(_definitions_of(schema))
        while pending:
            definition = pending.pop()
            if definition not in reached:
                reached.add(definition)
                pending += _definitions_of(definitions[definition])
        schema["$defs"] = {name: definitions[name] for name in sorted(reached)}
        text = json.dumps(schema).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')
        (target / name).write_text(text)
    return target


def kubeconform_problems(objects: list[Object], version: str) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="parley-kubeconform-") as scratch:
        schemas = kubeconform_schemas(objects, version, Path(scratch) / "schemas")
        manifest = Path(scratch) / "manifest.yaml"
        manifest.write_text(yaml.safe_dump_all(objects))
        checked = subprocess.run(
            [
                str(tools.binary("kubeconform")),
                "-strict",
                "-summary",
                "-output",
                "json",
                "-kubernetes-version",
                version,
                "-schema-location",
                str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
                str(manifest),
            ],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    report = json.loads(checked.stdout)
    problems = [
        f"{r['kind']}/{r['name']}: {r['msg']}"
        for r in report["resources"]
        if r["status"] != "statusValid"
    ]
    if checked.returncode != 0 and not problems:
        problems.append(f"kubeconform failed: {checked.stderr}")
    if report["summary"]["valid"] + len(problems) < len(objects):
        problems.append(f"kubeconform checked {report['summary']} of {len(objects)} objects")
    return problems
