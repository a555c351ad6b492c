"""Fixtures of the distribution tests: the zipapp and archive built once per session from the tree.

The build (``scripts/build_dist.py``) is loaded as a module, not installed; its first run downloads the
pinned wheels into ``build/dist-wheels/`` (PyPI must be reachable then), later runs need no network.
Every test here is marked ``dist``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_LOG = ROOT / "tests" / "fixtures" / "records" / "audit-enriched.log"
KUBECTL = Path("/usr/bin/kubectl")
SYSTEM_PYTHON = Path("/usr/bin/python3")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dist: builds and checks the Krew archive and the zipapp")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.dist)


def load_build_dist() -> ModuleType:
    """scripts/build_dist.py as a module."""
    spec = importlib.util.spec_from_file_location("build_dist", ROOT / "scripts" / "build_dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_dist"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_dist() -> ModuleType:
    return load_build_dist()


@pytest.fixture(scope="session")
def built(build_dist: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> object:
    """The artifacts of one build of the work tree (plugin.yaml of the repo left untouched)."""
    return build_dist.build(tmp_path_factory.mktemp("dist"), manifest=None)


def python_version(python: Path) -> tuple[int, int]:
    out = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    major, minor = out.strip().split(".")
    return int(major), int(minor)


def interpreters() -> dict[str, Path]:
    """CPython interpreters on this machine, one per minor version: "3.11" -> path.

    The system one (/usr/bin/python3) first, then pyenv's builds and python3.X on PATH.
    """
    candidates: list[Path] = []
    if SYSTEM_PYTHON.exists():
        candidates.append(SYSTEM_PYTHON)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += sorted(pyenv.glob("3.*/bin/python3"))
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory:
            candidates += sorted(Path(directory).glob("python3.[0-9]*"))
    found: dict[str, Path] = {}
    for candidate in candidates:
        if not re.fullmatch(r"python3(\.\d+)?", candidate.name) or not os.access(candidate, os.X_OK):
            continue
        try:
            major, minor = python_version(candidate)
        except (OSError, subprocess.CalledProcessError):
            continue
        found.setdefault(f"{major}.{minor}", candidate)
    return dict(sorted(found.items(), key=lambda item: tuple(int(p) for p in item[0].split("."))))


INTERPRETERS = interpreters()
SUPPORTED = {version: path for version, path in INTERPRETERS.items() if tuple(map(int, version.split("."))) >= (3, 9)}


@pytest.fixture
def clean_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment like a fresh login: no virtualenv, no PYTHONPATH, a HOME of its own."""
    home = tmp_path / "home"
    home.mkdir()
    yield {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
