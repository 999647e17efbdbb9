"""`python -m parley_auth` serves auth; `python -m parley_auth keys <step>` rotates the signing
key (the same as `python -m parley_auth.rotation <step>`)."""

import sys

from parley_auth import rotation
from parley_auth.settings import AuthSettings
from parley_kit.app import serve


def main(argv: list[str]) -> int:
    if argv[1:2] == ["keys"]:
        return rotation.main(argv[2:])
    if argv[1:]:
        print("usage: python -m parley_auth [keys status|stage|promote|retire]", file=sys.stderr)
        return 2
    serve("parley_auth.main:create_app", AuthSettings(), factory=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
