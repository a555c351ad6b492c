"""docs/reference.md must be what scripts/gen_reference.py renders from the current CLI."""

from __future__ import annotations

import subprocess
import sys

from tests.dist.conftest import ROOT


def test_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_reference.py"), "--check"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "37"}, cwd="/",
    )  # fmt: skip
    assert result.returncode == 0, (
        result.stderr + "\nrun `python3 scripts/gen_reference.py` and commit docs/reference.md"
    )


def test_reference_covers_every_command() -> None:
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    for command in ("generate", "merge", "diff", "version"):
        assert f"## kubectl seccomp {command}\n" in text
    assert "\x1b[" not in text  # no terminal colours
    assert "╭" not in text  # no rich boxes


def test_help_on_a_100_column_terminal_is_the_reference() -> None:
    """What ``kubectl seccomp CMD --help`` prints (rich installed or not) is the reference's section."""
    import os
    import re

    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## kubectl seccomp ?([a-z-]*)\n\n```text\n(.*?)\n```$", text, re.M | re.S))
    assert len(sections) > 10
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(ROOT)}
    env.pop("TYPER_USE_RICH", None)
    for command, section in sections.items():
        argv = [command, "--help"] if command else ["--help"]
        shown = subprocess.run(
            [sys.executable, "-m", "kubectl_seccomp", *argv], capture_output=True, text=True, env=env, check=True
        ).stdout
        assert shown.rstrip("\n") == section, f"kubectl seccomp {' '.join(argv)} differs from docs/reference.md"
