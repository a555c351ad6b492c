"""How tests/cluster/k8sbuild.py reads a module's go.mod and writes the wrapper module (no network, no Go)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

import k8sbuild

# Shaped like go.etcd.io/etcd/server/v3's go.mod: a directory replace block, version-less guards,
# plus a one-line replace to another module version, which must be copied as it is.
ETCD_LIKE = """\
module go.etcd.io/etcd/server/v3

go 1.24.0

toolchain go1.24.13

require (
\tgithub.com/coreos/go-semver v0.3.1
\tgo.etcd.io/etcd/api/v3 v3.6.8
\tgo.etcd.io/etcd/client/v3 v3.6.8
)

require golang.org/x/net v0.43.0 // indirect

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/client/v3 => ../client/v3
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace github.com/coreos/go-semver v0.3.1 => github.com/coreos/go-semver v0.3.0
"""


def test_replace_directives_of_both_forms() -> None:
    assert k8sbuild.replace_directives(ETCD_LIKE) == [
        ("go.etcd.io/etcd/api/v3", "../api"),
        ("go.etcd.io/etcd/client/v3", "../client/v3"),
        ("go.etcd.io/etcd", "./FORBIDDEN_DEPENDENCY"),
        ("github.com/coreos/go-semver v0.3.1", "github.com/coreos/go-semver v0.3.0"),
    ]
    assert k8sbuild.local_replaces(ETCD_LIKE) == [
        "go.etcd.io/etcd/api/v3",
        "go.etcd.io/etcd/client/v3",
        "go.etcd.io/etcd",
    ]
    assert k8sbuild.go_directive(ETCD_LIKE) == "1.24.0"
    assert {"go.etcd.io/etcd/api/v3", "golang.org/x/net"} <= k8sbuild.required_modules(ETCD_LIKE)


def test_wrapper_pins_directory_replaces_to_twins_and_copies_the_rest(tmp_path: Path) -> None:
    program = k8sbuild.etcd("v3.6.8")
    k8sbuild.write_wrapper_module(program, ETCD_LIKE, tmp_path)
    gomod = (tmp_path / "go.mod").read_text()
    assert "go 1.24.0" in gomod
    assert "require go.etcd.io/etcd/server/v3 v3.6.8" in gomod
    assert "\tgo.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.8\n" in gomod
    assert "\tgo.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v3.6.8\n" in gomod
    assert "\tgithub.com/coreos/go-semver v0.3.1 => github.com/coreos/go-semver v0.3.0\n" in gomod
    assert "FORBIDDEN" not in gomod and "go.etcd.io/etcd =>" not in gomod  # a guard for no required module
    assert (tmp_path / "doc.go").read_text().startswith("// Package")


def test_kubernetes_twins_are_the_v0_staging_versions(tmp_path: Path) -> None:
    gomod = "module k8s.io/kubernetes\n\nrequire k8s.io/api v0.0.0\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n"
    k8sbuild.write_wrapper_module(k8sbuild.kubernetes("v1.37.2"), gomod, tmp_path)
    assert "\tk8s.io/api => k8s.io/api v0.37.2\n" in (tmp_path / "go.mod").read_text()


def test_cache_layout_by_name_and_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runc = k8sbuild.runc("v1.4.0")
    assert runc.binary("runc") == tmp_path / "kubectl-seccomp" / "runc-v1.4.0" / "bin" / "runc"
    assert not runc.is_built()
    runc.binary("runc").parent.mkdir(parents=True)
    runc.binary("runc").write_text("")
    assert runc.is_built()
    assert k8sbuild.bin_dir("v1.30.14") == tmp_path / "kubectl-seccomp" / "k8s-v1.30.14" / "bin"


def test_the_coredns_build_has_a_plugin_for_every_directive_of_the_corefile() -> None:
    import harness

    directives = {
        line.split()[0]
        for line in harness.COREFILE.splitlines()
        if line.startswith("    ") and not line.startswith("     ") and line.split()[0] != "}"
    }
    assert directives == {"errors", "health", "ready", "kubernetes", "prometheus", "cache", "reload", "loadbalance"}
    packages = {"prometheus": "metrics"}  # the directive's plugin lives in plugin/metrics
    assert {packages.get(d, d) for d in directives} == set(k8sbuild.COREDNS_PLUGINS)
