"""plugin.yaml against Krew's validation rules, and against the archive the tree builds.

The committed plugin.yaml must be exactly what ``python3 scripts/build_dist.py`` renders from the
tree: the same version and the sha256 of the same archive bytes. When the package changes, rebuild
and commit plugin.yaml.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dist import krew_rules
from tests.dist.conftest import ROOT

MANIFEST = ROOT / "plugin.yaml"
PLATFORMS = {("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")}
STALE = "plugin.yaml is stale: run `python3 scripts/build_dist.py` and commit plugin.yaml"


def load(path: Path = MANIFEST) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_plugin_yaml_passes_krew_validation(tmp_path: Path) -> None:
    # In krew-index the manifest is plugins/<name>.yaml: the file name is the plugin's name.
    index_copy = tmp_path / "plugins" / "seccomp.yaml"
    index_copy.parent.mkdir()
    shutil.copy(MANIFEST, index_copy)
    assert krew_rules.validate_manifest_file(index_copy, load(index_copy)) == []


def test_plugin_yaml_content() -> None:
    plugin = load()
    spec = plugin["spec"]
    assert plugin["metadata"]["name"] == "seccomp"
    assert set(krew_rules.selected_pairs(plugin)) == PLATFORMS
    assert len(spec["platforms"]) == len(PLATFORMS)  # one entry per os/arch
    version = spec["version"].lstrip("v")
    for platform in spec["platforms"]:
        assert platform["bin"] == "kubectl-seccomp"
        assert platform["uri"] == (
            "https://github.com/kubectl-seccomp/kubectl-seccomp/releases/download/"
            f"v{version}/kubectl-seccomp_{version}.tar.gz"
        )
        assert set(platform["selector"]["matchLabels"]) == {"os", "arch"}
    for needed in ("python3", "3.9", "rbac", "privileged", "/var/lib/kubelet/seccomp"):
        assert needed in spec["caveats"].lower(), needed


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.update(apiVersion="krew.googlecontainertools.github.com/v1alpha1"), "apiVersion"),
        (lambda p: p.update(kind="Plugins"), "kind"),
        (lambda p: p["metadata"].update(name="other"), "should be named"),
        (lambda p: p["spec"].update(shortDescription=""), "short description"),
        (lambda p: p["spec"].update(shortDescription="two\nlines"), "line breaks"),
        (lambda p: p["spec"].update(shortDescription="x" * 51), "krew-index allows 50"),
        (lambda p: p["spec"].update(version="0.1.0"), "version"),
        (lambda p: p["spec"].update(version="v0.1"), "version"),
        (lambda p: p["spec"].update(version="v01.1.0"), "version"),
        (lambda p: p["spec"].update(platforms=[]), "platform specified"),
        (lambda p: p["spec"]["platforms"][0].pop("uri"), "`uri`"),
        (lambda p: p["spec"]["platforms"][0].update(sha256="ABC"), "`sha256`"),
        (lambda p: p["spec"]["platforms"][0].update(sha256="A" * 64), "`sha256`"),
        (lambda p: p["spec"]["platforms"][0].pop("bin"), "`bin`"),
        (lambda p: p["spec"]["platforms"][0].update(files=[]), "`files`"),
        (lambda p: p["spec"]["platforms"][0].update(files=[{"from": "x"}]), "`to`"),
        (lambda p: p["spec"]["platforms"][0].pop("selector"), "nil selector"),
        (lambda p: p["spec"]["platforms"][0].update(selector={}), "empty selector"),
        (lambda p: p["spec"]["platforms"][0]["selector"]["matchLabels"].update(distro="debian"), "not supported"),
        (lambda p: p["spec"]["platforms"][0]["selector"].update(matchLabels={}), "`matchLabels` specified but empty"),
        (lambda p: p["spec"]["platforms"][0]["selector"].update(matchExpressions=[]), "specified but empty"),
        (lambda p: p["spec"]["platforms"][0]["selector"]["matchLabels"].update(os="plan9"), "doesn't match any"),
        (lambda p: p["spec"]["platforms"][1].update(selector=p["spec"]["platforms"][0]["selector"]), "multiple"),
        (
            lambda p: p["spec"]["platforms"][0].update(
                selector={"matchExpressions": [{"key": "os", "operator": "In", "values": ["linux"]}]}
            ),
            "multiple",
        ),
        (lambda p: p["spec"].update(shortdescription="typo"), "unknown key"),
    ],
)
def test_the_rules_catch_bad_manifests(change: Any, expected: str, tmp_path: Path) -> None:
    plugin = copy.deepcopy(load())
    change(plugin)
    path = tmp_path / "seccomp.yaml"
    errors = krew_rules.validate_manifest_file(path, plugin)
    assert any(expected in error for error in errors), errors


def test_the_file_name_is_the_plugin_name(tmp_path: Path) -> None:
    assert krew_rules.validate_manifest_file(tmp_path / "plugin.yaml", load())  # named seccomp
    assert krew_rules.validate_manifest_file(tmp_path / "seccomp.yml", load())
    assert not krew_rules.is_safe_plugin_name("con")
    assert not krew_rules.is_safe_plugin_name("a/b")


def test_sha256_matches_the_archive_built_from_the_tree(built: Any) -> None:
    digest = hashlib.sha256(built.archive.read_bytes()).hexdigest()
    assert digest == built.sha256
    plugin = load()
    assert plugin["spec"]["version"] == f"v{built.version}", STALE
    assert {p["sha256"] for p in plugin["spec"]["platforms"]} == {digest}, STALE
    assert MANIFEST.read_text(encoding="utf-8") == built.manifest, STALE


def test_archive_holds_the_bin_and_a_license(built: Any) -> None:
    plugin = load()
    assert krew_rules.archive_errors(built.archive, plugin["spec"]["platforms"][0]) == []
    with tarfile.open(built.archive) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["LICENSE", "kubectl-seccomp"]
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and not m.uname for m in members)
        license_file = tar.extractfile("LICENSE")
        assert license_file is not None
        assert b"Apache License" in license_file.read(200)
        zipapp = tar.extractfile("kubectl-seccomp")
        assert zipapp is not None
        assert zipapp.read() == built.zipapp.read_bytes()


def test_build_twice_gives_the_same_bytes(build_dist: Any, built: Any, tmp_path: Path) -> None:
    again = build_dist.build(tmp_path, manifest=None)
    assert again.zipapp.read_bytes() == built.zipapp.read_bytes()
    assert again.archive.read_bytes() == built.archive.read_bytes()
    assert again.manifest == built.manifest


def test_zipapp_is_pure_python_and_reproducible_in_shape(built: Any) -> None:
    data = built.zipapp.read_bytes()
    assert data.startswith(b"#!/usr/bin/env python3\n")
    assert built.zipapp.stat().st_mode & 0o777 == 0o755
    assert str(ROOT).encode() not in data  # no path of the build machine
    with zipfile.ZipFile(built.zipapp) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert "__main__.py" in names and "kubectl_seccomp/cli.py" in names
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in infos)
        assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".pyc")) or "__pycache__" in n]
        # Our optional C census stays out (the work tree may hold it built): the pure-Python one runs.
        assert not [n for n in names if n.startswith("kubectl_seccomp/_census")]
        assert "kubectl_seccomp/census.py" in names
        for needed in ("yaml/__init__.py", "markupsafe/_native.py", "kubernetes/__init__.py", "typer/main.py",
                       "certifi/cacert.pem", "kubectl_seccomp/agent/main.py"):  # fmt: skip
            assert needed in names, needed
        for info in infos:
            assert not archive.read(info).startswith(b"\x7fELF"), info.filename


def test_lock_pins_every_vendored_distribution(build_dist: Any) -> None:
    pins = build_dist.read_lock()
    names = {pin.name for pin in pins}
    assert {"kubernetes", "typer", "jinja2", "tabulate", "click", "pyyaml", "markupsafe"} <= names
    for pin in pins:
        assert pin.filename.endswith("-none-any.whl") or pin.name in build_dist.PURE_FALLBACK, pin


def test_lock_satisfies_pyproject(build_dist: Any) -> None:
    """A dependency added to or re-pinned in pyproject.toml needs `python3 scripts/build_dist.py --lock`."""
    requirements = pytest.importorskip("packaging.requirements")
    pins = {pin.name: pin.version for pin in build_dist.read_lock()}
    for line in build_dist.project_dependencies():
        requirement = requirements.Requirement(line)
        name = build_dist.normalize(requirement.name)
        assert name in pins, f"{name} is not in scripts/dist-requirements.txt: run build_dist.py --lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} does not satisfy {line}"
