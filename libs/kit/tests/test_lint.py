"""The unscoped-query lint finds class-level Beanie queries outside TenantScope."""

from pathlib import Path

from parley_kit.lint import document_classes, unscoped_queries


def write_package(root: Path) -> Path:
    package = root / "pkg"
    package.mkdir()
    (package / "models.py").write_text(
        "from beanie import Document\n\nclass Message(Document):\n    tenant_id: str\n"
    )
    (package / "repository.py").write_text(
        "from pkg.models import Message\n\n"
        "async def bad(message_id):\n"
        "    return await Message.get(message_id)\n\n"
        "async def scoped(scope):\n"
        "    return await scope.find(Message).to_list()\n\n"
        "async def tenants():\n"
        "    return await Message.find_all().to_list()  # unscoped: admin export\n"
    )
    return package


def test_finds_unscoped_query_and_honours_marker(tmp_path: Path) -> None:
    package = write_package(tmp_path)

    names = document_classes(package)
    findings = unscoped_queries(package, names)

    assert names == {"Message"}
    assert len(findings) == 1
    assert findings[0].endswith("repository.py:4: Message.get(...)")


def test_kit_itself_is_clean() -> None:
    package = Path(__file__).resolve().parents[1] / "src" / "parley_kit"
    assert unscoped_queries(package, document_classes(package)) == []
