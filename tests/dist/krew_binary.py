"""The real Krew for the install tests: ``sigs.k8s.io/krew`` built once from its Go module, cached.

``python3 tests/dist/krew_binary.py`` builds it (CI does, next to the Kubernetes binaries); the
tests call :func:`krew_binary`, which builds it when it is missing. The module is fetched through the
Go module proxy (``go mod download``, checked against sum.golang.org) and built from the module's
own directory with its own go.mod, as a user of ``go install`` would get it, into
``~/.cache/kubectl-seccomp/krew-<version>/kubectl-krew`` (``$XDG_CACHE_HOME`` honoured).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KREW_MODULE = "sigs.k8s.io/krew"
KREW_VERSION = "v0.4.3"


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "kubectl-seccomp" / f"krew-{KREW_VERSION}"


def go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if found is None:
        raise RuntimeError("building krew needs Go (tests/cluster/install-deps.sh installs it)")
    return found


def krew_binary() -> Path:
    """Path of the cached ``kubectl-krew``, built first if needed."""
    target = cache_dir() / "kubectl-krew"
    if target.is_file():
        return target
    download = subprocess.run(
        [go(), "mod", "download", "-json", f"{KREW_MODULE}@{KREW_VERSION}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if download.returncode != 0:
        raise RuntimeError(f"go mod download {KREW_MODULE}@{KREW_VERSION} failed:\n{download.stdout}{download.stderr}")
    module_dir = json.loads(download.stdout)["Dir"]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        built = Path(tmp) / "kubectl-krew"
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        result = subprocess.run(
            [go(), "build", "-trimpath", "-o", str(built), "./cmd/krew"],
            cwd=module_dir, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"building krew failed:\n{result.stdout}{result.stderr}")
        built.rename(target)  # whole file or nothing
    return target


if __name__ == "__main__":
    print(krew_binary())
    sys.exit(0)
