"""`pip install` the package into a fresh virtualenv and run it through the real kubectl.

The virtualenv sees the test interpreter's site-packages (``--system-site-packages``) for the
dependencies (``pip install --no-deps``); pip builds the wheel in its usual isolated environment, so
setuptools comes from the index or pip's cache (the test interpreter's own setuptools may be too old
to build wheels without the ``wheel`` package).
The package is installed from a copy of the tree, so the work tree gets no build/ or egg-info.
kubectl finds ``kubectl-seccomp`` on PATH (the venv's bin directory), as for any user who ran pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dist.conftest import FIXTURE_LOG, KUBECTL, ROOT

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="needs the real kubectl at /usr/bin/kubectl")


def copy_tree(base: Path) -> Path:
    """A copy of what pip needs to build the package (so the work tree gets no build/ or egg-info)."""
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "LICENSE", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    if not (source / "README.md").exists():  # pyproject.toml names it as the long description
        (source / "README.md").write_text("kubectl seccomp\n")
    shutil.copytree(ROOT / "kubectl_seccomp", source / "kubectl_seccomp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))  # fmt: skip
    return source


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pip-install")
    source = copy_tree(base)
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


def test_completion_through_kubectl(venv: Path, tmp_path: Path) -> None:
    """pip installs kubectl_complete-seccomp next to kubectl-seccomp; kubectl runs it for plugin completion."""
    assert (venv / "bin" / "kubectl_complete-seccomp").is_file()
    env = {"HOME": str(tmp_path), "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    completed = subprocess.run([str(KUBECTL), "__complete", "seccomp", "rec"], capture_output=True, text=True, env=env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["record", "record-local", ":4"]
    values = subprocess.run(
        [str(KUBECTL), "__complete", "seccomp", "generate", "--format", ""], capture_output=True, text=True, env=env
    )
    assert values.stdout.splitlines() == ["json", "spo", ":4"]


#: The caps pyproject.toml had while the Krew executable's Python 3.9 floor held pip users back.
OLD_CAPS = {"kubernetes": (36,), "typer": (0, 24)}


@pytest.fixture(scope="module")
def newest_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv where pip resolves the dependencies itself: today's releases of everything."""
    base = tmp_path_factory.mktemp("pip-newest")
    source = copy_tree(base)
    target = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    result = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if (
        result.returncode != 0
        and "Could not find a version" in result.stderr + result.stdout
        and not os.environ.get("CI")
    ):
        pytest.skip("the package index is not reachable")
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def test_pip_takes_current_releases_and_the_plugin_runs_on_them(newest_venv: Path, tmp_path: Path) -> None:
    python = str(newest_venv / "bin" / "python")
    shown = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('kubernetes'), version('typer'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    installed = dict(zip(("kubernetes", "typer"), shown))
    for name, cap in OLD_CAPS.items():
        parsed = tuple(int(part) for part in installed[name].split(".")[: len(cap)])
        assert parsed >= cap, f"pip installed {name} {installed[name]}: still held below {cap}"
    env = {"HOME": str(tmp_path), "PATH": f"{newest_venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    generated = subprocess.run(
        [str(KUBECTL), "seccomp", "generate", "-f", str(FIXTURE_LOG)], capture_output=True, text=True, env=env
    )
    assert generated.returncode == 0, generated.stderr
    expected = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", "generate", "-f", str(FIXTURE_LOG)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert generated.stdout == expected
    for args in (["seccomp", "--help"], ["seccomp", "record", "--help"], ["seccomp", "status", "--help"]):
        shown_help = subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env)
        assert shown_help.returncode == 0 and "Usage" in shown_help.stdout, shown_help.stderr
    bad = subprocess.run(
        [str(KUBECTL), "seccomp", "generate", "-f", "/nonexistent"], capture_output=True, text=True, env=env
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    completed = subprocess.run([str(KUBECTL), "__complete", "seccomp", "rec"], capture_output=True, text=True, env=env)
    assert completed.stdout.splitlines() == ["record", "record-local", ":4"]


def test_the_reference_renders_on_the_newest_typer(newest_venv: Path) -> None:
    """scripts/gen_reference.py walks typer's command tree through kubectl_seccomp._click, which typer
    releases that vendor click (0.24 and later) need; the page it renders there has every command."""
    python = str(newest_venv / "bin" / "python")
    typer_version = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('typer'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    result = subprocess.run(
        [python, str(ROOT / "scripts" / "gen_reference.py"), "--stdout"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"typer {typer_version}: {result.stderr}"
    pinned = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    headings = [line for line in pinned.splitlines() if line.startswith("## ")]
    assert len(headings) > 10 and headings == [line for line in result.stdout.splitlines() if line.startswith("## ")]
    assert "--profile-dir" in result.stdout and "--dry-run" in result.stdout
