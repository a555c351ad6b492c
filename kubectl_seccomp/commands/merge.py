"""``kubectl seccomp merge``: one profile allowing what any of several allow."""

from __future__ import annotations

import sys
from functools import reduce
from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp.errors import InputError
from kubectl_seccomp.profile import Profile


def command(
    profiles: list[Path] = typer.Argument(..., help="Allow-list profiles to merge (two or more)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here (default: stdout)."),
) -> None:
    """Merge allow-list profiles (replicas, nodes, architectures) into one."""
    merged = reduce(Profile.merge, (Profile.load(path) for path in profiles))
    text = merged.to_json()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as error:
        raise InputError(f"{output}: cannot write: {error.strerror}") from error
