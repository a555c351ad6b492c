"""``kubectl seccomp merge``: one profile allowing what any of several allow."""

from functools import reduce
from typing import Annotated

import typer

from kubectl_seccomp import files
from kubectl_seccomp.commands import _options as opts
from kubectl_seccomp.commands._profiles import Strict, load_checked
from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.formats import ProfileFormat, render_profile, resource_name
from kubectl_seccomp.profile import Profile


def command(
    profiles: Annotated[list[str], typer.Argument(help="Allow-list profiles to merge (two or more; '-' reads stdin).")],
    to: opts.To = None,
    strict: Strict = False,
    form: opts.ProfileOutput = ProfileFormat.json,
    name: opts.ResourceName = None,
) -> None:
    """Merge allow-list profiles (replicas, nodes, architectures) into one."""
    if len(profiles) < 2:
        raise UsageError("merge needs two or more profiles", hint="to check one profile, use diff or apply --dry-run")
    files.check_stdin_once(profiles, "a profile")
    # --to may name one of the inputs (merge into it): all are read before the atomic write.
    merged = reduce(Profile.merge, (load_checked(path, strict) for path in profiles))
    text = render_profile(merged, form, resource_name(name, to.name if to else None))
    if to is None:
        files.write_stdout(text)
    else:
        files.write_atomically(to, text)
