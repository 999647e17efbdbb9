"""A small, offline kustomize: enough of it to render `deploy/k8s` without a binary.

Supports what the manifests use: `resources` (files and directories), `namespace`, `labels`
(metadata only), `images`, `replicas`, `secretGenerator` (literals), and `patches` given as
strategic-merge files (lists of named items merge by name; `null` deletes a key).
"""

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def _load_all(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        merged_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            for index, existing in enumerate(merged_list):
                if existing["name"] == item["name"]:
                    merged_list[index] = _merge(existing, item)
                    break
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _key(obj: Object) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _containers(obj: Object) -> list[Object]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def render(directory: Path) -> list[Object]:
    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[Object] = []
    for resource in config.get("resources", []):
        path = (directory / resource).resolve()
        objects += render(path) if path.is_dir() else _load_all(path)
    for generator in config.get("secretGenerator", []):
        data = {}
        for literal in generator.get("literals", []):
            name, _, value = literal.partition("=")
            data[name] = base64.b64encode(value.encode()).decode()
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": "Opaque",
                "data": data,
            }
        )
    by_key = {_key(obj): index for index, obj in enumerate(objects)}
    for patch in config.get("patches", []):
        for document in _load_all(directory / patch["path"]):
            index = by_key.get(_key(document))
            if index is None:
                raise ValueError(f"patch targets a missing object: {_key(document)}")
            objects[index] = _merge(objects[index], document)
    for entry in config.get("replicas", []):
        for obj in objects:
            if (
                obj["kind"] in {"Deployment", "StatefulSet"}
                and obj["metadata"]["name"] == entry["name"]
            ):
                obj["spec"]["replicas"] = entry["count"]
    for image in config.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    new = image.get("newName", name)
                    container["image"] = f"{new}:{image.get('newTag', tag or 'latest')}"
    for label in config.get("labels", []):
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in config:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = config["namespace"]
    return objects
