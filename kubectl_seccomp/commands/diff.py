"""``kubectl seccomp diff``: what one profile allows that another does not."""

from typing import Annotated

import typer

from kubectl_seccomp import files
from kubectl_seccomp.commands._profiles import Strict, load_checked
from kubectl_seccomp.errors import SeccompError

TROUBLE = 2  # diff(1)'s exit code for "could not compare"; 1 means "they differ"


def command(
    old: Annotated[str, typer.Argument(help="The profile you have ('-' reads stdin).")],
    new: Annotated[str, typer.Argument(help="The profile to compare it with ('-' reads stdin).")],
    strict: Strict = False,
) -> None:
    """Show syscalls and architectures added (+) and removed (-) from OLD to NEW.

    Exits 0 when they allow the same, 1 when they differ, 2 when a profile
    cannot be read (like diff(1)).
    """
    try:
        files.check_stdin_once((old, new), "a profile")
        difference = load_checked(old, strict).diff(load_checked(new, strict))
    except SeccompError as error:
        error.exit_code = TROUBLE
        raise
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
