"""What the commands that read profile files share: the ``--strict`` flag and
reading a profile with a warning about syscall names no architecture has.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kubectl_seccomp import files
from kubectl_seccomp.profile import Profile

Strict = Annotated[
    bool, typer.Option("--strict", help="Refuse syscall names that no architecture has (default: warn).")
]


def load_checked(path: str, strict: bool) -> Profile:
    """Read a profile; warn about (or, ``strict``, refuse) syscall names no architecture has."""
    profile = Profile.load(path, strict=strict)
    warning = profile.unknown_names_warning(files.display_name(path))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return profile
