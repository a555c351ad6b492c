"""plugin.yaml against Krew's validation rules, and against the archive the tree builds.

The committed plugin.yaml must be exactly what ``python3 scripts/build_dist.py`` renders from the
tree: the same version and the sha256 of the same archive bytes. When the package changes, rebuild
and commit plugin.yaml.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dist import krew_rules
from tests.dist.conftest import INTERPRETERS, ROOT

MANIFEST = ROOT / "plugin.yaml"
PLATFORMS = set(krew_rules.KREW_PLATFORMS) - {p for p in krew_rules.KREW_PLATFORMS if p[0] == "windows"}
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
    version = spec["version"].lstrip("v")
    release = f"https://github.com/kubectl-seccomp/kubectl-seccomp/releases/download/v{version}/"
    pairs = krew_rules.selected_pairs(plugin)
    for (os_name, arch), index in pairs.items():
        platform = spec["platforms"][index]
        assert platform["bin"] == "kubectl-seccomp"
        # The compiled census on linux/amd64 and linux/arm64, the pure-Python archive elsewhere.
        native = os_name == "linux" and arch in ("amd64", "arm64")
        suffix = f"_linux_{arch}" if native else ""
        assert platform["uri"] == f"{release}kubectl-seccomp_{version}{suffix}.tar.gz", (os_name, arch)
    assert len(spec["platforms"]) == 4  # linux/amd64, linux/arm64, darwin, other linux
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
    by_name = {built.archive.name: digest}
    for archive in built.platforms.values():
        by_name[archive.archive.name] = hashlib.sha256(archive.archive.read_bytes()).hexdigest()
        assert by_name[archive.archive.name] == archive.sha256
    assert len(set(by_name.values())) == 3  # three different archives
    for platform in plugin["spec"]["platforms"]:
        assert platform["sha256"] == by_name[platform["uri"].rsplit("/", 1)[-1]], STALE
    assert MANIFEST.read_text(encoding="utf-8") == built.manifest, STALE


@pytest.mark.parametrize("key", ["any", "linux_amd64", "linux_arm64"])
def test_archive_holds_the_bin_the_completer_and_a_license(built: Any, key: str) -> None:
    plugin = load()
    archive = built.archive if key == "any" else built.platforms[key].archive
    zipapp_path = built.zipapp if key == "any" else built.platforms[key].zipapp
    assert krew_rules.archive_errors(archive, plugin["spec"]["platforms"][0]) == []
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["LICENSE", "kubectl-seccomp", "kubectl_complete-seccomp"]
        assert all(m.mode == 0o755 for m in members if m.name != "LICENSE")
        completer = tar.extractfile("kubectl_complete-seccomp")
        assert completer is not None
        assert b'exec kubectl-seccomp __complete "$@"' in completer.read()
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and not m.uname for m in members)
        license_file = tar.extractfile("LICENSE")
        assert license_file is not None
        assert b"Apache License" in license_file.read(200)
        zipapp = tar.extractfile("kubectl-seccomp")
        assert zipapp is not None
        assert zipapp.read() == zipapp_path.read_bytes()


def test_build_twice_gives_the_same_bytes(build_dist: Any, built: Any, tmp_path: Path) -> None:
    again = build_dist.build(tmp_path, manifest=None)
    assert again.zipapp.read_bytes() == built.zipapp.read_bytes()
    assert again.archive.read_bytes() == built.archive.read_bytes()
    for key, archive in built.platforms.items():
        assert again.platforms[key].archive.read_bytes() == archive.archive.read_bytes(), key
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


def native_census(built: Any, key: str) -> tuple[bytes, dict[str, Any]]:
    with zipfile.ZipFile(built.platforms[key].zipapp) as archive:
        native = sorted(n for n in archive.namelist() if n.startswith("kubectl_seccomp/_native/") and n[-1] != "/")
        assert native == ["kubectl_seccomp/_native/_census.abi3.so", "kubectl_seccomp/_native/census.json"]
        elves = [i.filename for i in archive.infolist() if archive.read(i).startswith(b"\x7fELF")]
        assert elves == ["kubectl_seccomp/_native/_census.abi3.so"]  # the one native file
        module = archive.read(native[0])
        info = json.loads(archive.read(native[1]))
    return module, info


def undefined_python_symbols(module: bytes, tmp_path: Path) -> set[str]:
    path = tmp_path / "census.so"
    path.write_bytes(module)
    out = subprocess.run(["nm", "-D", "--undefined-only", str(path)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if "Py" in line}


@pytest.mark.parametrize(
    ("key", "machine", "elf_machine"), [("linux_amd64", "x86_64", 62), ("linux_arm64", "aarch64", 183)]
)
def test_platform_archives_carry_the_census_for_their_machine(
    built: Any, key: str, machine: str, elf_machine: int, tmp_path: Path
) -> None:
    module, info = native_census(built, key)
    assert info == {
        "abi": "abi3", "file": "_census.abi3.so", "machines": info["machines"], "python": ">=3.9",
        "sha256": hashlib.sha256(module).hexdigest(), "system": "linux",
    }  # fmt: skip
    assert machine in info["machines"]
    assert module[:6] == b"\x7fELF\x02\x01" and int.from_bytes(module[18:20], "little") == elf_machine
    path = tmp_path / "census.so"
    path.write_bytes(module)
    exported = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True, text=True, check=True)
    assert [line.split()[-1] for line in exported.stdout.splitlines()] == ["PyInit__census"]


def test_arm64_census_needs_only_the_stable_abi(built: Any, tmp_path: Path) -> None:
    """No arm64 interpreter here: the arm64 module is checked by its symbols. It needs exactly what the
    amd64 build needs (which the install tests load and run), and all of it is CPython's stable ABI."""
    arm = undefined_python_symbols(native_census(built, "linux_arm64")[0], tmp_path)
    amd = undefined_python_symbols(native_census(built, "linux_amd64")[0], tmp_path)
    assert arm == amd and "PyModule_Create2" in arm
    stable = stable_abi_symbols()
    if stable is None:
        pytest.skip("no CPython test package (test.test_stable_abi_ctypes) to list the stable ABI")
    assert arm <= stable, arm - stable


def stable_abi_symbols() -> Any:
    script = "from test.test_stable_abi_ctypes import SYMBOL_NAMES; print(' '.join(SYMBOL_NAMES))"
    for python in INTERPRETERS.values():
        result = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            # PyModule_Create2 (what PyModule_Create expands to) is stable ABI but abi-only: the list
            # of the test package leaves it out.
            return {*result.stdout.split(), "PyModule_Create2"}
    return None
