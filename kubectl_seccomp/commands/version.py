"""``kubectl seccomp version``."""

from __future__ import annotations

import platform

import typer

from kubectl_seccomp import __version__
from kubectl_seccomp.census import describe as describe_census
from kubectl_seccomp.syscalls import TABLE_SOURCE


def command() -> None:
    """Print the plugin's version."""
    typer.echo(
        f"kubectl-seccomp {__version__} (python {platform.python_version()}; syscall tables: {TABLE_SOURCE}; "
        f"{describe_census()})"
    )
