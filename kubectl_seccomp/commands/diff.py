"""``kubectl seccomp diff``: what one profile allows that another does not."""

from __future__ import annotations

from pathlib import Path

import typer

from kubectl_seccomp.profile import Profile


def command(
    old: Path = typer.Argument(..., help="The profile you have."),
    new: Path = typer.Argument(..., help="The profile to compare it with."),
) -> None:
    """Show syscalls and architectures added (+) and removed (-) from OLD to NEW.

    Exits 0 when they allow the same, 1 when they differ (like diff(1)).
    """
    difference = Profile.load(old).diff(Profile.load(new))
    if difference.default_action_changed:
        typer.echo("~ default action differs")
    for arch in difference.added_architectures:
        typer.echo(f"+ architecture {arch}")
    for arch in difference.removed_architectures:
        typer.echo(f"- architecture {arch}")
    for name in difference.added_syscalls:
        typer.echo(f"+ {name}")
    for name in difference.removed_syscalls:
        typer.echo(f"- {name}")
    if not difference.empty:
        raise typer.Exit(1)
