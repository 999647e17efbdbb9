"""A lint that fails on document queries that bypass `TenantScope`.

Beanie queries are class-level calls such as `Message.find(...)` or `Message.get(id)`; raw
collections come from `get_pymongo_collection()`. Outside `parley_kit.mongo` every such call is
a finding, unless its line (or the line above it) carries `# unscoped: <reason>` (for
collections that are global by design, e.g. the tenants table looked up by slug before any
tenant is known).
"""

import ast
from pathlib import Path
from typing import Final

QUERY_METHODS: Final = frozenset(
    {
        "find",
        "find_one",
        "find_many",
        "find_all",
        "get",
        "aggregate",
        "count",
        "delete_all",
        "distinct",
        "get_pymongo_collection",
        "get_motor_collection",
        "update_all",
        "insert_many",
    }
)
MARKER: Final = "# unscoped:"


def unscoped_queries(package: Path, document_names: set[str]) -> list[str]:
    """`file:line: call` for each unscoped query on one of `document_names` under `package`."""
    findings: list[str] = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            if node.func.attr not in QUERY_METHODS or not isinstance(receiver, ast.Name):
                continue
            if receiver.id not in document_names:
                continue
            here_and_above = lines[max(0, node.lineno - 2) : node.lineno]
            if any(MARKER in line for line in here_and_above):
                continue
            findings.append(f"{path}:{node.lineno}: {receiver.id}.{node.func.attr}(...)")
    return findings


def document_classes(package: Path) -> set[str]:
    """Names of classes under `package` that subclass `Document` (directly or by name)."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if "Document" in bases or bases & names:
                    names.add(node.name)
    return names
