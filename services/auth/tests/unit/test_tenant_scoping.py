"""Every document query of auth goes through TenantScope or says why it need not."""

from pathlib import Path

import parley_auth
from parley_kit.lint import document_classes, unscoped_queries


def test_no_unscoped_queries() -> None:
    package = Path(parley_auth.__file__).parent
    names = document_classes(package) | {"Document"}
    assert unscoped_queries(package, names) == []
