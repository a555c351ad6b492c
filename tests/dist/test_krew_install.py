"""Install the release archives with the real Krew and run the plugin through the real kubectl.

Krew (``sigs.k8s.io/krew`` v0.4.3, built once by tests/dist/krew_binary.py) runs as ``kubectl krew``
in a fresh ``KREW_ROOT`` whose default index is a local git repository holding
``plugins/seccomp.yaml`` (how a custom index works, and what Krew needs to be initialized with no
network). Archives are given with ``--archive``; the upgrade, which downloads, gets the rebuilt
archive from a local HTTP server. The plugin then runs with an environment that holds nothing of
ours: PATH is Krew's bin directory and /usr/bin:/bin (plus, for the other Python versions, a
directory with just a ``python3`` link), no virtualenv, no PYTHONPATH, a fresh HOME.
/usr/bin/python3 has neither typer nor kubernetes, so the plugin can only run from what the archive
holds.
"""

from __future__ import annotations

import functools
import http.server
import platform
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dist.conftest import FIXTURE_LOG, INTERPRETERS, KUBECTL, ROOT, SUPPORTED, SYSTEM_PYTHON
from tests.dist.krew_binary import krew_binary

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="needs the real kubectl at /usr/bin/kubectl")

GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
HOST_KEY = f"{platform.system().lower()}_{GOARCH.get(platform.machine().lower(), platform.machine())}"
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"]


def host_archive(built: Any) -> Path:
    """The archive Krew picks on this machine: the one with the compiled census where there is one."""
    return Path(built.platforms[HOST_KEY].archive if HOST_KEY in built.platforms else built.archive)


@pytest.fixture(scope="session")
def krew() -> Path:
    return krew_binary()


class Krew:
    """A fresh KREW_ROOT, its environment, and ``kubectl krew`` in it."""

    def __init__(self, base: Path, krew: Path, clean_env: dict[str, str]) -> None:
        self.root = base / "krew-root"
        tools = base / "tools"
        tools.mkdir()
        (tools / "kubectl-krew").symlink_to(krew)
        self.env = {
            **clean_env,
            "KREW_ROOT": str(self.root),
            "KREW_NO_UPGRADE_CHECK": "1",
            "PATH": f"{self.root / 'bin'}:{tools}:{clean_env['PATH']}",
        }
        self.index = self.root / "index" / "default"

    def publish(self, manifest: str) -> None:
        """Put ``manifest`` into the default index as plugins/seccomp.yaml (a commit of its git repo)."""
        plugins = self.index / "plugins"
        if not plugins.is_dir():
            plugins.mkdir(parents=True)
            subprocess.run([*GIT, "init", "-q", str(self.index)], check=True)
        (plugins / "seccomp.yaml").write_text(manifest, encoding="utf-8")
        subprocess.run([*GIT, "-C", str(self.index), "add", "-A"], check=True)
        subprocess.run([*GIT, "-C", str(self.index), "commit", "-qm", "seccomp"], check=True)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return kubectl("krew", *args, env=self.env)

    def leftovers(self) -> list[str]:
        """Everything under KREW_ROOT but the index and the empty directories Krew keeps."""
        found = []
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root)
            if relative.parts[0] == "index" or path.is_dir():
                continue
            found.append(str(relative))
        return sorted(found)


def install_from_manifest(krew_env: Krew, built: Any, tmp_path: Path) -> None:
    krew_env.publish(built.manifest)
    manifest = tmp_path / "plugin.yaml"
    manifest.write_text(built.manifest, encoding="utf-8")
    krew_env.run("install", f"--manifest={manifest}", f"--archive={host_archive(built)}")


@pytest.fixture(scope="module")
def expected_profile() -> str:
    """What `generate` prints for the fixture when run from the tree."""
    result = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", "generate", "-f", str(FIXTURE_LOG)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.fixture
def installed(built: Any, krew: Path, tmp_path: Path, clean_env: dict[str, str]) -> Krew:
    """The plugin installed by the real Krew from plugin.yaml and this platform's archive."""
    krew_env = Krew(tmp_path, krew, clean_env)
    install_from_manifest(krew_env, built, tmp_path)
    return krew_env


@pytest.fixture
def krew_root(installed: Krew) -> Path:
    return installed.root


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
    if HOST_KEY in built.platforms:  # one abi3 build of the census loads into every CPython >= 3.9
        assert shown.rstrip().endswith("census: compiled)"), shown

    help_text = kubectl("seccomp", "--help", env=env).stdout
    for command in ("generate", "merge", "diff", "version"):
        assert command in help_text

    generated = kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), env=env)
    assert generated.stdout == expected_profile
    assert '"defaultAction": "SCMP_ACT_ERRNO"' in generated.stdout
    # The SeccompProfile template is read from the package (unpacked or in the zip) on every Python.
    resource = kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), "--format", "spo", env=env).stdout
    assert yaml.safe_load(resource)["kind"] == "SeccompProfile"

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
        spo = kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), "--format", "spo", env=env).stdout
        assert yaml.safe_load(spo)["spec"]["defaultAction"] == "SCMP_ACT_ERRNO"
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


def test_krew_installs_the_archive_with_the_compiled_census_and_uninstalls_it(
    installed: Krew, built: Any, expected_profile: str
) -> None:
    env = installed.env
    store = installed.root / "store" / "seccomp" / f"v{built.version}"
    assert sorted(p.name for p in store.iterdir()) == ["LICENSE", "kubectl-seccomp", "kubectl_complete-seccomp"]
    assert (installed.root / "bin" / "kubectl-seccomp").resolve() == store / "kubectl-seccomp"
    shown = kubectl("seccomp", "version", env=env).stdout
    if HOST_KEY in built.platforms:  # linux/amd64, linux/arm64: the census compiled for this machine runs
        assert shown.rstrip().endswith("census: compiled)"), shown
    else:
        assert shown.rstrip().endswith("census: pure Python)"), shown
    assert kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), env=env).stdout == expected_profile

    # Completion through kubectl, with the completer linked next to the plugin (docs/install.md).
    (installed.root / "bin" / "kubectl_complete-seccomp").symlink_to(store / "kubectl_complete-seccomp")
    completed = kubectl("__complete", "seccomp", "rec", env=env).stdout
    assert completed.splitlines()[:3] == ["record", "record-local", ":4"], completed
    (installed.root / "bin" / "kubectl_complete-seccomp").unlink()

    installed.run("uninstall", "seccomp")
    assert installed.leftovers() == []
    assert "seccomp" not in kubectl("plugin", "list", env=env, check=False).stdout


def test_prebuilt_census_that_does_not_match_falls_back_to_python(
    installed: Krew, built: Any, expected_profile: str
) -> None:
    """A damaged unpacked census (other hash) is not loaded: pure Python, same profile, no error."""
    if HOST_KEY not in built.platforms:
        pytest.skip(f"no compiled census for {HOST_KEY}")
    env = installed.env
    kubectl("seccomp", "version", env=env)  # unpacks into the cache
    (unpacked,) = (Path(env["HOME"]) / ".cache" / "kubectl-seccomp" / "zipapp").iterdir()
    module = unpacked / "kubectl_seccomp" / "_native" / "_census.abi3.so"
    module.write_bytes(module.read_bytes() + b"\0")
    shown = kubectl("seccomp", "version", env=env)
    assert shown.stdout.rstrip().endswith("census: pure Python)") and shown.stderr == ""
    generated = kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), env=env)
    assert generated.stdout == expected_profile and "Traceback" not in generated.stderr


def served_manifest(built: Any, served: Path, url: str) -> str:
    """The manifest of ``built`` with its archives copied into ``served`` and the uris pointing there."""
    for archive in [built.archive, *(a.archive for a in built.platforms.values())]:
        (served / archive.name).write_bytes(archive.read_bytes())
    manifest = yaml.safe_load(built.manifest)
    for entry in manifest["spec"]["platforms"]:
        entry["uri"] = url + entry["uri"].rsplit("/", 1)[-1]
    return str(yaml.safe_dump(manifest, sort_keys=False))


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on localhost (Krew's upgrade downloads the archive)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_krew_installs_from_the_index_upgrades_and_uninstalls(
    built: Any, build_dist: Any, krew: Path, tmp_path: Path, clean_env: dict[str, str], http_dir: tuple[Path, str]
) -> None:
    """Krew's own path for a plugin of an index: it downloads the archive the index's manifest names.

    (``--archive`` works only with ``--manifest``, so an index install downloads: here from a local
    HTTP server, as from a custom index's release host.)
    """
    krew_env = Krew(tmp_path, krew, clean_env)
    served, url = http_dir
    krew_env.publish(served_manifest(built, served, url))
    krew_env.run("install", "seccomp", "--no-update-index")
    assert kubectl("seccomp", "version", env=krew_env.env).stdout.startswith(f"kubectl-seccomp {built.version} ")
    receipt = yaml.safe_load((krew_env.root / "receipts" / "seccomp.yaml").read_text())
    assert receipt["status"]["source"]["name"] == "default"  # from the index, so upgradable

    # The next release: rebuilt archives, the index's manifest pointing at them.
    next_version = "99.0.0"
    rebuilt = build_dist.build(tmp_path / "next", manifest=None, version=next_version)
    krew_env.publish(served_manifest(rebuilt, served, url))

    krew_env.run("upgrade", "seccomp", "--no-update-index")
    assert kubectl("seccomp", "version", env=krew_env.env).stdout.startswith(f"kubectl-seccomp {next_version} ")
    assert sorted(p.name for p in (krew_env.root / "store" / "seccomp").iterdir()) == [f"v{next_version}"]
    assert kubectl("seccomp", "generate", "-f", str(FIXTURE_LOG), env=krew_env.env).returncode == 0

    krew_env.run("uninstall", "seccomp")
    assert krew_env.leftovers() == []
