"""`kubectl seccomp --help` and `version` must not import the Kubernetes client: it is slow to import.

Checked twice: from the package (``sys.modules`` after the command ran in a fresh interpreter) and
from the zipapp (``python3 -X importtime``, which lists every module imported).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.dist.conftest import ROOT

COMMANDS = [["--help"], ["version"], ["generate", "--help"], ["record", "--help"]]


def imported_top_level(argv: list[str]) -> set[str]:
    script = (
        "import sys\n"
        "from kubectl_seccomp.cli import run\n"
        f"run({argv!r})\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(result.stderr.strip().splitlines()[-1].split())


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_package_does_not_import_kubernetes(argv: list[str]) -> None:
    if argv[0] == "record" and not (ROOT / "kubectl_seccomp" / "commands" / "record.py").exists():
        pytest.skip("no record command yet")
    modules = imported_top_level(argv)
    assert "kubectl_seccomp" in modules
    assert "kubernetes" not in modules
    assert "urllib3" not in modules


@pytest.mark.parametrize("argv", [["--help"], ["version"]], ids=" ".join)
def test_zipapp_does_not_import_kubernetes(argv: list[str], built: Any, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "KUBECTL_SECCOMP_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(built.zipapp), *argv], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "kubectl_seccomp.cli" in imported
    assert not {name for name in imported if name.split(".")[0] == "kubernetes"}
