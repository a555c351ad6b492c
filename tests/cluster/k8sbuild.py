"""Build the Kubernetes server binaries from the ``k8s.io/kubernetes`` Go module.

``go install k8s.io/kubernetes/cmd/kubelet@vX`` does not work: the module's
go.mod replaces every ``k8s.io/*`` staging module with a path inside its own
tree. We generate a tiny wrapper module that requires ``k8s.io/kubernetes vX``
and replaces each staging module with its published ``v0.Y.Z`` twin, then build
all four commands in one ``go build`` so they share compile work.

The binaries land in ``~/.cache/kubectl-seccomp/k8s-<version>/bin``; when all of
them are there, ``build`` does nothing. CoreDNS, for cluster DNS, is built the
same way into ``~/.cache/kubectl-seccomp/coredns-<version>/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
GO = os.environ.get("KSC_GO", "/usr/local/go/bin/go")
COREDNS_VERSION = "v1.14.7"
GOPROXY_URL = "https://proxy.golang.org"


def cache_dir(version: str) -> Path:
    """Where the binaries of one Kubernetes version are cached."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "kubectl-seccomp" / f"k8s-{version}"


def bin_dir(version: str) -> Path:
    return cache_dir(version) / "bin"


def is_built(version: str) -> bool:
    return all((bin_dir(version) / name).is_file() for name in COMMANDS)


def staging_modules(version: str) -> list[str]:
    """The k8s.io modules that k8s.io/kubernetes replaces with its staging tree."""
    url = f"{GOPROXY_URL}/k8s.io/kubernetes/@v/{version}.mod"
    with urllib.request.urlopen(url, timeout=60) as response:
        gomod = response.read().decode()
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", gomod, re.M)))


def write_wrapper_module(version: str, src: Path) -> None:
    """Write go.mod of the wrapper module: require kubernetes, pin its staging twins."""
    staging_version = "v0." + version.removeprefix("v1.")
    lines = [
        "module kubectl-seccomp.test/k8sbuild",
        "",
        "go 1.22",
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "replace (",
    ]
    lines += [f"\t{mod} => {mod} {staging_version}" for mod in staging_modules(version)]
    lines += [")", ""]
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text("\n".join(lines))
    # A package that imports nothing, so `go` accepts the directory as a module root.
    (src / "doc.go").write_text("// Package k8sbuild only exists to build Kubernetes.\npackage k8sbuild\n")


def pause_source(version: str) -> Path:
    """Kubernetes' pause.c, from the module the build downloaded (or downloads now)."""
    result = subprocess.run(
        [GO, "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, GOFLAGS="-mod=mod"),
    )
    return Path(json.loads(result.stdout)["Dir"]) / "build" / "pause" / "linux" / "pause.c"


def version_ldflags(version: str) -> str:
    """Stamp the version the way Kubernetes' own build does (hack/lib/version.sh)."""
    major, minor = version.removeprefix("v").split(".")[:2]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    flags = ["-s", "-w", "-checklinkname=0"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={stamp}",
        ]
    return " ".join(flags)


def build(version: str) -> Path:
    """Build (or find cached) binaries for ``version``; return their directory."""
    out = bin_dir(version)
    if is_built(version):
        print(f"kubernetes {version}: cached binaries in {out}")
        return out
    src = cache_dir(version) / "src"
    write_wrapper_module(version, src)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="0", GOTOOLCHAIN="local")
    tmp_out = cache_dir(version) / "bin.partial"
    tmp_out.mkdir(parents=True, exist_ok=True)
    cmd = [
        GO,
        "build",
        "-trimpath",
        "-tags",
        "providerless",
        "-ldflags",
        version_ldflags(version),
        "-o",
        str(tmp_out) + "/",
        *[f"k8s.io/kubernetes/cmd/{name}" for name in COMMANDS],
    ]
    print(f"kubernetes {version}: building {', '.join(COMMANDS)} (about 8 min cold on 2 cores)...", flush=True)
    started = time.monotonic()
    subprocess.run(cmd, cwd=src, env=env, check=True)
    for name in COMMANDS:
        (tmp_out / name).rename(out / name)
    print(f"kubernetes {version}: built in {time.monotonic() - started:.0f}s into {out}")
    return out


def coredns_binary(version: str = COREDNS_VERSION) -> Path:
    return cache_dir(version).parent / f"coredns-{version}" / "coredns"


def build_coredns(version: str = COREDNS_VERSION) -> Path:
    """Build (or find cached) CoreDNS, the cluster DNS kind and kubeadm deploy.

    Its module has no replace directives, so a plain ``go install mod@version`` works.
    """
    binary = coredns_binary(version)
    if binary.is_file():
        print(f"coredns {version}: cached binary {binary}")
        return binary
    partial = binary.parent / "bin.partial"
    partial.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(partial), GOFLAGS="-mod=mod", CGO_ENABLED="0", GOTOOLCHAIN="local")
    print(f"coredns {version}: building (about 5 min cold on 2 cores)...", flush=True)
    started = time.monotonic()
    subprocess.run(
        [GO, "install", "-trimpath", "-ldflags=-s -w", f"github.com/coredns/coredns@{version}"],
        cwd=partial,
        env=env,
        check=True,
    )
    (partial / "coredns").rename(binary)
    print(f"coredns {version}: built in {time.monotonic() - started:.0f}s into {binary}")
    return binary


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "v1.30.14")
