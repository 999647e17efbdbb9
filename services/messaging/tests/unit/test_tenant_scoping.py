"""Every document query of messaging goes through TenantScope or says why it need not."""

from pathlib import Path

import parley_messaging
from parley_kit.lint import document_classes, unscoped_queries


def test_no_unscoped_queries() -> None:
    package = Path(parley_messaging.__file__).parent
    assert unscoped_queries(package, document_classes(package) | {"Document"}) == []
