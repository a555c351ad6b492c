"""``kubectl seccomp merge``: one profile allowing what any of several allow."""

from __future__ import annotations

import sys
from functools import reduce
from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp.commands.generate import FORMAT, NAME
from kubectl_seccomp.errors import InputError
from kubectl_seccomp.formats import ProfileFormat, render_profile, resource_name
from kubectl_seccomp.profile import Profile


def command(
    profiles: list[Path] = typer.Argument(..., help="Allow-list profiles to merge (two or more)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here (default: stdout)."),
    form: ProfileFormat = FORMAT,
    name: Optional[str] = NAME,
) -> None:
    """Merge allow-list profiles (replicas, nodes, architectures) into one."""
    merged = reduce(Profile.merge, (Profile.load(path) for path in profiles))
    text = render_profile(merged, form, resource_name(name, output.name if output else None))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as error:
        raise InputError(f"{output}: cannot write: {error.strerror}") from error
