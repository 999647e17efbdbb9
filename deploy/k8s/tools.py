"""kustomize and kubeconform, built once from the Go module proxy and cached across runs.

    python deploy/k8s/tools.py            # build what is missing, print each binary's path
    python deploy/k8s/tools.py kustomize  # print the path of one (built first if missing)

The binaries live in `$PARLEY_TOOLS_DIR` (default `~/.cache/parley/tools`), one folder per
version, so a fresh clone (CI) reuses them and a version bump builds the new one beside the
old. A build goes to a temporary folder and is renamed into place: parallel runs never see a
half-written binary. Needs only the Go toolchain (the same that builds the local FerretDB) and
no standard input.

kubeconform is given its schemas offline by the tests (tests/deploy/k8s_render.py): those that
the kubernetes-validate package ships, and the custom resources' schemas in tests/deploy/schemas.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KUSTOMIZE = ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2")  # v5.8.3 needs a newer Go
KUBECONFORM = ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.8.0")
TOOLS = {"kustomize": KUSTOMIZE, "kubeconform": KUBECONFORM}


def tools_dir() -> Path:
    configured = os.environ.get("PARLEY_TOOLS_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "parley" / "tools"


def binary(name: str) -> Path:
    """The cached binary of `name`, built first when missing."""
    module, version = TOOLS[name]
    target = tools_dir() / f"{name}-{version}" / name
    if target.exists():
        return target
    if shutil.which("go") is None:
        raise SystemExit(f"tools: the Go toolchain is required to build {name}")
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=f".{name}-") as scratch:
        environment = os.environ | {
            "GOBIN": scratch,
            "GOFLAGS": "-mod=mod",
            "GOTOOLCHAIN": "local",  # the machine's Go; never download another one
            "CGO_ENABLED": "0",
        }
        print(f"tools: building {name} {version} from the Go module proxy (once)", file=sys.stderr)
        built = subprocess.run(
            ["go", "install", f"{module}@{version}"],
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            raise SystemExit(f"tools: building {name} failed:\n{built.stdout}{built.stderr}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(scratch) / name, target)  # atomic: a parallel build just wins or loses
    return target


def main(argv: list[str]) -> int:
    names = argv[1:] or list(TOOLS)
    unknown = [name for name in names if name not in TOOLS]
    if unknown:
        print(f"usage: python deploy/k8s/tools.py [{'|'.join(TOOLS)}]", file=sys.stderr)
        return 2
    for name in names:
        print(binary(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
