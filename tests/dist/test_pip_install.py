"""`pip install` the package into a fresh virtualenv and run it through the real kubectl.

The virtualenv sees the test interpreter's site-packages (``--system-site-packages``) for the
dependencies (``pip install --no-deps``); pip builds the wheel in its usual isolated environment, so
setuptools comes from the index or pip's cache (the test interpreter's own setuptools may be too old
to build wheels without the ``wheel`` package).
The package is installed from a copy of the tree, so the work tree gets no build/ or egg-info.
kubectl finds ``kubectl-seccomp`` on PATH (the venv's bin directory), as for any user who ran pip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dist.conftest import FIXTURE_LOG, KUBECTL, ROOT

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="needs the real kubectl at /usr/bin/kubectl")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pip-install")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "LICENSE", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    if not (source / "README.md").exists():  # pyproject.toml names it as the long description
        (source / "README.md").write_text("kubectl seccomp\n")
    shutil.copytree(ROOT / "kubectl_seccomp", source / "kubectl_seccomp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))  # fmt: skip
    target = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(target)], check=True)
    result = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def test_kubectl_finds_the_pip_installed_plugin(venv: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    listed = subprocess.run([str(KUBECTL), "plugin", "list"], capture_output=True, text=True, env=env)
    assert str(venv / "bin" / "kubectl-seccomp") in listed.stdout, listed.stdout + listed.stderr

    generated = subprocess.run(
        [str(KUBECTL), "seccomp", "generate", "-f", str(FIXTURE_LOG)], capture_output=True, text=True, env=env
    )
    assert generated.returncode == 0, generated.stderr
    expected = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", "generate", "-f", str(FIXTURE_LOG)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert generated.stdout == expected

    version = subprocess.run([str(KUBECTL), "seccomp", "version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("kubectl-seccomp "), version.stderr


def test_pip_builds_the_compiled_census(venv: Path, tmp_path: Path) -> None:
    """With a C compiler present (the test set-up installs one), pip builds kubectl_seccomp._census."""
    built = list(venv.glob("lib/python3*/site-packages/kubectl_seccomp/_census*.so"))
    assert built, "pip install built no kubectl_seccomp/_census*.so"
    env = {"HOME": str(tmp_path), "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    shown = subprocess.run([str(KUBECTL), "seccomp", "version"], capture_output=True, text=True, env=env, check=True)
    assert shown.stdout.rstrip().endswith("; census: compiled)"), shown.stdout
