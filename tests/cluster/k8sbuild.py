"""Build the cluster's Go programs from their published Go modules, cached by version.

Every program is built from one module at one version, with that module's own
go.mod in charge, so its ``replace`` directives hold:

* A module whose replace directives all point at other module versions, or that
  has none (containerd, runc), is built in its own directory, the copy that
  ``go mod download`` unpacks, with ``-mod=readonly``.
* A module whose go.mod replaces modules with directories of its repository
  (``k8s.io/kubernetes`` with ``./staging/...``, etcd's server with ``../api``)
  cannot be built from the module cache, where those directories are absent.
  ``go install k8s.io/kubernetes/cmd/kubelet@vX`` fails for that reason. We write
  a tiny wrapper module that requires it and replaces each such module with its
  published twin (``k8s.io/api v0.Y.Z`` for Kubernetes ``v1.Y.Z``, etcd's
  ``api/v3`` at etcd's own version), copying every other replace directive.

All commands of one module are built in one ``go build`` so they share compile
work. The binaries land in ``~/.cache/kubectl-seccomp/<name>-<version>/bin``;
when all of them are there, building does nothing. CoreDNS, for cluster DNS, is
built with ``go install`` into ``~/.cache/kubectl-seccomp/coredns-<version>/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
GO = os.environ.get("KSC_GO", "/usr/local/go/bin/go")
# The linker strips the debug information (-ldflags -s -w), so the compiler need not write it:
# without DWARF a cold build takes about 10% less CPU (containerd: 155 s instead of 171 s).
GO_BUILD_FLAGS = ("-trimpath", "-gcflags=all=-dwarf=false")
COREDNS_VERSION = "v1.14.7"
GOPROXY_URL = "https://proxy.golang.org"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubectl-seccomp"


@dataclass(frozen=True)
class GoProgram:
    """One module at one version and the commands to build from it."""

    name: str  # cache directory prefix: <name>-<version>
    module: str
    version: str
    commands: dict[str, str]  # binary name -> package import path
    cgo: bool = False
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ("-s", "-w")
    # The version of the published twin of a module the go.mod replaces with a directory.
    twin_version: Callable[[str], str] = lambda version: version
    about: str = ""  # how long a cold build takes, for the progress line
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    def binary(self, command: str) -> Path:
        return self.bin_dir / command

    def is_built(self) -> bool:
        return all(self.binary(name).is_file() for name in self.commands)


def proxy_gomod(module: str, version: str) -> str:
    """The go.mod of ``module@version`` as the Go module proxy serves it."""
    url = f"{GOPROXY_URL}/{module}/@v/{version}.mod"
    with urllib.request.urlopen(url, timeout=60) as response:
        text: str = response.read().decode()
    return text


def replace_directives(gomod: str) -> list[tuple[str, str]]:
    """``(old, new)`` of each replace directive, in one-line and block form (versions kept in both)."""
    result = []
    for block in re.findall(r"^replace\s*\((.*?)^\)", gomod, re.M | re.S):
        result += re.findall(r"^\s*(\S+(?:\s+v\S+)?)\s*=>\s*(.+?)\s*$", block, re.M)
    result += re.findall(r"^replace\s+(\S+(?:\s+v\S+)?)\s*=>\s*(.+?)\s*$", gomod, re.M)
    return [(old.strip(), new.strip()) for old, new in result]


def required_modules(gomod: str) -> set[str]:
    return set(re.findall(r"^\s*(?:require\s+)?([\w.-]+\.[\w./-]+)\s+v\S+", gomod, re.M))


def go_directive(gomod: str) -> str:
    found = re.search(r"^go\s+(\S+)", gomod, re.M)
    return found.group(1) if found else "1.22"


def local_replaces(gomod: str) -> list[str]:
    """Modules the go.mod replaces with a directory, which only exists in its repository."""
    return [old.split()[0] for old, new in replace_directives(gomod) if new.startswith(("./", "../"))]


def write_wrapper_module(program: GoProgram, gomod: str, src: Path) -> None:
    """go.mod of a module that requires ``program``'s and pins its directory replaces to their twins."""
    required = required_modules(gomod)
    twin = program.twin_version(program.version)
    lines = [
        "module kubectl-seccomp.test/gobuild",
        "",
        f"go {go_directive(gomod)}",
        "",
        f"require {program.module} {program.version}",
        "",
        "replace (",
    ]
    for old, new in replace_directives(gomod):
        if not new.startswith(("./", "../")):
            lines.append(f"\t{old} => {new}")
        elif old.split()[0] in required:
            lines.append(f"\t{old.split()[0]} => {old.split()[0]} {twin}")
        # else: a guard such as etcd's `go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY`, for no module it needs.
    lines += [")", ""]
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text("\n".join(lines))
    # A package that imports nothing, so `go` accepts the directory as a module root.
    (src / "doc.go").write_text("// Package gobuild only exists to build other modules' commands.\npackage gobuild\n")


def module_dir(module: str, version: str) -> Path:
    """The unpacked module (downloaded now if needed)."""
    result = subprocess.run(
        [GO, "mod", "download", "-json", f"{module}@{version}"],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local"),
    )
    return Path(json.loads(result.stdout)["Dir"])


def build_program(program: GoProgram) -> Path:
    """Build (or find cached) the commands of ``program``; return their directory."""
    out = program.bin_dir
    if program.is_built():
        print(f"{program.name} {program.version}: cached binaries in {out}")
        return out
    gomod = proxy_gomod(program.module, program.version)
    if local_replaces(gomod):
        workdir = program.cache_dir / "src"
        write_wrapper_module(program, gomod, workdir)
        mod_flag = "-mod=mod"
    else:
        workdir = module_dir(program.module, program.version)
        mod_flag = "-mod=readonly"
    env = dict(
        os.environ,
        GOFLAGS=mod_flag,
        CGO_ENABLED="1" if program.cgo else "0",
        GOTOOLCHAIN="local",
        **program.extra_env,
    )
    partial = program.cache_dir / "bin.partial"
    partial.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    # One command: -o names the file; several: -o a directory, each named after its package.
    output = str(partial / next(iter(program.commands))) if len(program.commands) == 1 else f"{partial}/"
    cmd = [GO, "build", *GO_BUILD_FLAGS, "-ldflags", " ".join(program.ldflags), "-o", output]
    if program.tags:
        cmd += ["-tags", ",".join(program.tags)]
    cmd += list(program.commands.values())
    print(f"{program.name} {program.version}: building {', '.join(program.commands)} ({program.about})...", flush=True)
    started = time.monotonic()
    subprocess.run(cmd, cwd=workdir, env=env, check=True)
    for name in program.commands:
        (partial / name).rename(out / name)
    print(f"{program.name} {program.version}: built in {time.monotonic() - started:.0f}s into {out}")
    return out


# ---------------------------------------------------------------- the programs


def kubernetes_ldflags(version: str) -> tuple[str, ...]:
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
    return tuple(flags)


def kubernetes(version: str) -> GoProgram:
    """The server binaries; the staging modules' twins are ``v0.Y.Z`` for ``v1.Y.Z``."""
    return GoProgram(
        name="k8s",
        module="k8s.io/kubernetes",
        version=version,
        commands={name: f"k8s.io/kubernetes/cmd/{name}" for name in COMMANDS},
        tags=("providerless",),
        ldflags=kubernetes_ldflags(version),
        twin_version=lambda v: "v0." + v.removeprefix("v1."),
        about="about 8 min cold on 2 idle cores",
    )


def containerd(version: str) -> GoProgram:
    package = "github.com/containerd/containerd/v2"
    return GoProgram(
        name="containerd",
        module=package,
        version=version,
        commands={name: f"{package}/cmd/{name}" for name in ("containerd", "ctr", "containerd-shim-runc-v2")},
        cgo=True,
        # As containerd's Makefile stamps it: the CRI reports it as the node's containerRuntimeVersion.
        ldflags=(
            "-s",
            "-w",
            f"-X {package}/version.Version={version.removeprefix('v')}",
            f"-X {package}/version.Package={package}",
        ),
        about="about 4 min cold on 2 idle cores",
    )


def runc(version: str) -> GoProgram:
    """runc with its seccomp support (libseccomp through cgo: Debian's libseccomp-dev)."""
    return GoProgram(
        name="runc",
        module="github.com/opencontainers/runc",
        version=version,
        commands={"runc": "github.com/opencontainers/runc"},
        cgo=True,
        tags=("seccomp",),
        ldflags=("-s", "-w", f"-X main.version={version.removeprefix('v')}"),
        about="about 1 min cold",
    )


def etcd(version: str) -> GoProgram:
    """etcd's server: its ``main`` is the root package of go.etcd.io/etcd/server/v3.

    (go.etcd.io/etcd/v3, the repository's root module, only ties the others
    together for etcd's own tests; its ``dummy.go`` imports no ``main``.)
    """
    return GoProgram(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=version,
        commands={"etcd": "go.etcd.io/etcd/server/v3"},
        about="about 2 min cold on 2 idle cores",
    )


# Back-compatible names for the Kubernetes binaries.


def cache_dir(version: str) -> Path:
    """Where the binaries of one Kubernetes version are cached."""
    return kubernetes(version).cache_dir


def bin_dir(version: str) -> Path:
    return kubernetes(version).bin_dir


def is_built(version: str) -> bool:
    return kubernetes(version).is_built()


def build(version: str) -> Path:
    return build_program(kubernetes(version))


def pause_source(version: str) -> Path:
    """Kubernetes' pause.c, from the module the build downloaded (or downloads now)."""
    return module_dir("k8s.io/kubernetes", version) / "build" / "pause" / "linux" / "pause.c"


# The plugins of harness.COREFILE, by package (``prometheus`` is plugin/metrics). CoreDNS's own
# build links about 50 (cloud DNS back ends and their SDKs, etcd, tracing, dnstap): twice the
# build time for plugins the test cluster never loads.
COREDNS_PLUGINS = ("cache", "errors", "health", "kubernetes", "loadbalance", "metrics", "ready", "reload")

COREDNS_MAIN = """// Command coredns is CoreDNS with the plugins of the test cluster's Corefile only.
package main

import (
\t"github.com/coredns/coredns/coremain"
{imports}
)

func main() {{ coremain.Run() }}
"""


def coredns_binary(version: str = COREDNS_VERSION) -> Path:
    return cache_root() / f"coredns-{version}-minimal" / "coredns"


def build_coredns(version: str = COREDNS_VERSION) -> Path:
    """Build (or find cached) CoreDNS, the cluster DNS kind and kubeadm deploy, with COREDNS_PLUGINS.

    Its module has no replace directives: a module of our own requires it and holds a ``main``
    like CoreDNS's, importing only those plugins (their order in a server block comes from
    CoreDNS's directive list, which stays whole).
    """
    binary = coredns_binary(version)
    if binary.is_file():
        print(f"coredns {version}: cached binary {binary}")
        return binary
    src = binary.parent / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(
        f"module kubectl-seccomp.test/coredns\n\ngo 1.24\n\nrequire github.com/coredns/coredns {version}\n"
    )
    imports = "\n".join(f'\t_ "github.com/coredns/coredns/plugin/{name}"' for name in COREDNS_PLUGINS)
    (src / "main.go").write_text(COREDNS_MAIN.format(imports=imports))
    env = dict(os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="0", GOTOOLCHAIN="local")
    print(
        f"coredns {version}: building with {len(COREDNS_PLUGINS)} plugins (about 2 min cold on 2 cores)...", flush=True
    )
    started = time.monotonic()
    partial = binary.parent / "coredns.partial"
    subprocess.run(
        [GO, "build", *GO_BUILD_FLAGS, "-ldflags=-s -w", "-o", str(partial), "."], cwd=src, env=env, check=True
    )
    partial.rename(binary)
    print(f"coredns {version}: built in {time.monotonic() - started:.0f}s into {binary}")
    return binary


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "v1.30.14")
