"""Install the release archive the way Krew does and run the plugin through the real kubectl.

Krew (internal/installation/install.go) checks the archive's sha256 against the manifest, unpacks it
into a staging directory, moves its files (``files`` unset: everything) to
``$KREW_ROOT/store/<name>/<version>/`` and symlinks ``$KREW_ROOT/bin/kubectl-<name>`` to the ``bin``.
We do the same in a temporary root, then run ``kubectl seccomp ...`` with an environment that holds
nothing of ours: PATH is that bin directory and /usr/bin:/bin (plus, for the other Python versions, a
directory with just a ``python3`` link), no virtualenv, no PYTHONPATH, a fresh HOME. /usr/bin/python3
has neither typer nor kubernetes, so the plugin can only run from what the archive holds.
"""

from __future__ import annotations

import hashlib
import io
import platform
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dist.conftest import FIXTURE_LOG, INTERPRETERS, KUBECTL, ROOT, SUPPORTED, SYSTEM_PYTHON

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="needs the real kubectl at /usr/bin/kubectl")

GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def krew_install(archive: Path, manifest: str, krew_root: Path) -> Path:
    """What `kubectl krew install --manifest plugin.yaml --archive ARCHIVE` does; returns the bin link."""
    plugin = yaml.safe_load(manifest)
    name, version = plugin["metadata"]["name"], plugin["spec"]["version"]
    here = (platform.system().lower(), GOARCH.get(platform.machine().lower(), platform.machine()))
    (candidate,) = [
        p for p in plugin["spec"]["platforms"] if p["selector"]["matchLabels"] == {"os": here[0], "arch": here[1]}
    ]
    data = archive.read_bytes()
    assert hashlib.sha256(data).hexdigest() == candidate["sha256"], "archive does not match the manifest"
    staging = krew_root.parent / "krew-downloads"
    staging.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(staging, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters
            tar.extractall(staging)
    install_dir = krew_root / "store" / name / version
    install_dir.mkdir(parents=True)
    for entry in staging.iterdir():  # files: [{from: "*", to: "."}]
        shutil.move(str(entry), install_dir / entry.name)
    (krew_root / "bin").mkdir()
    link = krew_root / "bin" / f"kubectl-{name.replace('-', '_')}"
    link.symlink_to(install_dir / candidate["bin"])
    (krew_root / "receipts").mkdir()
    (krew_root / "receipts" / f"{name}.yaml").write_text(manifest, encoding="utf-8")
    return link


@pytest.fixture(scope="module")
def expected_profile() -> str:
    """What `generate` prints for the fixture when run from the tree."""
    result = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", "generate", "-f", str(FIXTURE_LOG)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.fixture
def krew_root(built: Any, tmp_path: Path) -> Path:
    root = tmp_path / "krew"
    krew_install(built.archive, built.manifest, root)
    return root


def kubectl(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.returncode}\n{result.stderr}"
    return result


def env_with_python(clean_env: dict[str, str], krew_root: Path, python: Path, tmp_path: Path) -> dict[str, str]:
    """PATH = krew bin, [a dir whose only python3 is `python`], /usr/bin:/bin."""
    path = [str(krew_root / "bin")]
    if python != SYSTEM_PYTHON:
        shim = tmp_path / "python-shim"
        shim.mkdir()
        (shim / "python3").symlink_to(python)
        path.append(str(shim))
    return {**clean_env, "PATH": ":".join([*path, clean_env["PATH"]])}


@pytest.mark.parametrize("version", sorted(SUPPORTED) or ["none"])
def test_installed_like_krew_runs_through_kubectl(
    version: str, krew_root: Path, clean_env: dict[str, str], tmp_path: Path, built: Any, expected_profile: str
) -> None:
    if version not in SUPPORTED:
        pytest.skip("no CPython >= 3.9 found")
    env = env_with_python(clean_env, krew_root, SUPPORTED[version], tmp_path)

    listed = kubectl("plugin", "list", env=env)
    assert str(krew_root / "bin" / "kubectl-seccomp") in listed.stdout

    shown = kubectl("seccomp", "version", env=env).stdout
    assert shown.startswith(f"kubectl-seccomp {built.version} (python {version}.")

    help_text = kubectl("seccomp", "--help", env=env).stdout
    for command in ("generate", "merge", "diff", "version"):
        assert command in help_text

    generated = kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), env=env)
    assert generated.stdout == expected_profile
    assert '"defaultAction": "SCMP_ACT_ERRNO"' in generated.stdout

    # The first run unpacked the application once into the user's cache, named after the build.
    cache = Path(env["HOME"]) / ".cache" / "kubectl-seccomp" / "zipapp"
    (unpacked,) = list(cache.iterdir())
    assert unpacked.name.startswith(f"{built.version}-")
    assert (unpacked / ".complete").is_file()
    assert (unpacked / "kubectl_seccomp" / "cli.py").is_file()


def test_system_python_has_none_of_our_dependencies() -> None:
    """Keeps the install test honest: the packages can only come from the archive."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3")
    for module in ("typer", "click", "kubernetes", "jinja2", "tabulate"):
        result = subprocess.run([str(SYSTEM_PYTHON), "-c", f"import {module}"], capture_output=True, env={})
        assert result.returncode != 0, f"/usr/bin/python3 can import {module}"


def test_runs_from_the_zip_when_the_cache_cannot_be_written(
    krew_root: Path, clean_env: dict[str, str], tmp_path: Path, expected_profile: str
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    for cache_dir in ("", str(blocker / "cache")):  # off; impossible to create
        env = {**clean_env, "PATH": f"{krew_root / 'bin'}:{clean_env['PATH']}", "KUBECTL_SECCOMP_CACHE_DIR": cache_dir}
        assert kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), env=env).stdout == expected_profile
    assert not (Path(clean_env["HOME"]) / ".cache").exists()


def test_agent_bundle_builds_from_inside_the_zip(built: Any, clean_env: dict[str, str]) -> None:
    """The plugin builds the node agent's zipapp from its own modules, also when they live in a zip."""
    script = (
        "import hashlib, sys\n"
        "import kubectl_seccomp\n"
        "from kubectl_seccomp.agent.bundle import build_agent_zipapp\n"
        "print(type(kubectl_seccomp.__loader__).__name__)\n"
        "print(hashlib.sha256(build_agent_zipapp()).hexdigest())\n"
    )
    python = SYSTEM_PYTHON if SYSTEM_PYTHON.exists() else Path(sys.executable)
    env = {**clean_env, "PYTHONPATH": str(built.zipapp)}
    from_zip = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, env=env, cwd=env["HOME"], check=False
    )
    assert from_zip.returncode == 0, from_zip.stderr
    loader, digest = from_zip.stdout.split()
    assert loader == "zipimporter"
    from_tree = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert from_tree.stdout.split() == ["SourceFileLoader", digest]
    with zipfile.ZipFile(built.zipapp) as archive:
        assert "kubectl_seccomp/agent/bundle.py" in archive.namelist()


def test_too_old_python_gets_a_clear_message(built: Any, clean_env: dict[str, str]) -> None:
    old = [path for version, path in INTERPRETERS.items() if tuple(map(int, version.split("."))) < (3, 9)]
    if not old:
        pytest.skip("no CPython < 3.9 on this machine")
    result = subprocess.run([str(old[-1]), str(built.zipapp), "version"], capture_output=True, text=True, env=clean_env)
    assert result.returncode == 1
    assert "needs Python 3.9 or newer" in result.stderr
    assert "Traceback" not in result.stderr


CLUSTER_KUBECONFIG = Path("/var/lib/ksc-cluster/kubeconfig")


@pytest.mark.cluster
@pytest.mark.parametrize("version", sorted({"3.9", "3.11"} & set(SUPPORTED)) or ["none"])
def test_installed_like_krew_talks_to_the_cluster(
    version: str, krew_root: Path, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """The vendored Kubernetes client (pure-Python PyYAML, urllib3, certifi from the zip) on a real API server."""
    import os

    if not CLUSTER_KUBECONFIG.exists():
        if os.environ.get("KSC_E2E") or os.environ.get("CI"):
            pytest.fail(f"no test cluster: {CLUSTER_KUBECONFIG} is missing (python3 tests/cluster/harness.py up)")
        pytest.skip("no test cluster (python3 tests/cluster/harness.py up; KSC_E2E=1)")
    if version not in SUPPORTED:
        pytest.skip("no CPython 3.9 or 3.11 found")
    env = {**env_with_python(clean_env, krew_root, SUPPORTED[version], tmp_path), "KUBECONFIG": str(CLUSTER_KUBECONFIG)}
    result = kubectl("seccomp", "status", "-A", "--no-nodes", "-o", "json", env=env)
    assert result.stdout.lstrip().startswith(("[", "{")), result.stdout


def test_concurrent_first_runs_share_one_unpacked_copy(built: Any, clean_env: dict[str, str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "0.0.1-old").mkdir(parents=True)  # an earlier build: replaced
    env = {**clean_env, "KUBECTL_SECCOMP_CACHE_DIR": str(cache)}
    python = str(SYSTEM_PYTHON if SYSTEM_PYTHON.exists() else sys.executable)
    command = [python, str(built.zipapp), "version"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        assert out.startswith(b"kubectl-seccomp ")
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 1 and entries[0].startswith(f"{built.version}-"), entries  # no staging left, old gone
