"""``kubectl seccomp version``: the plugin's version, as a line or, like ``kubectl version -o``, as data.

The plugin is kubectl's client side and talks to no server for this, so ``--client`` (kubectl's flag
for "only the client's version") prints the same: it is taken so that kubectl's spelling works.
"""

import enum
import json
import platform
from typing import Annotated, Optional

import typer

from kubectl_seccomp import __version__
from kubectl_seccomp.census import describe as describe_census
from kubectl_seccomp.syscalls import TABLE_SOURCE


class VersionOutput(str, enum.Enum):
    """kubectl version's ``-o``: a line by default, or data."""

    json = "json"
    yaml = "yaml"


def command(
    output: Annotated[
        Optional[VersionOutput],
        typer.Option("--output", "-o", help="Print the version as data (clientVersion), like kubectl version -o."),
    ] = None,
    client: Annotated[
        bool, typer.Option("--client", help="Only the client's version, as kubectl takes it (always the case here).")
    ] = False,
) -> None:
    """Print the plugin's version."""
    if output is None:
        typer.echo(
            f"kubectl-seccomp {__version__} (python {platform.python_version()}; syscall tables: {TABLE_SOURCE}; "
            f"{describe_census()})"
        )
        return
    data = {
        "clientVersion": {
            "gitVersion": f"v{__version__}",
            "pythonVersion": platform.python_version(),
            "syscallTables": TABLE_SOURCE,
            "census": describe_census().removeprefix("census: "),
            "platform": f"{platform.system().lower()}/{platform.machine()}",
        }
    }
    if output is VersionOutput.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip("\n"))
