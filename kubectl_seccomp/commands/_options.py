"""Every option more than one command takes, defined once as a ``typing.Annotated`` alias, and the
value sets of the enum-typed ones (``-o``, ``--source``, ``--mode``, ``--dry-run``, ``--format``).

The names follow kubectl: ``-o/--output`` is always the format of what a command prints on stdout,
``-n/--namespace``, ``--context``, ``--kubeconfig``, ``-l/--selector``, ``-c/--container`` and
``--dry-run=none|client|server`` mean what they mean there. Files and directories have their own
flags, the same in every command: ``--to FILE`` for an output file, ``--profile-dir DIR`` for a
directory of profiles, ``-f``/``--profile FILE`` for a profile that is read.

An option whose help depends on the command (``--timeout``, ``--container``, ``--mode``) has one
alias per command, here beside the others, so each command says what the flag does there. Defaults
are given in the command's signature (typer takes them from there with ``Annotated``); long ones
are named in the help text instead, where they wrap like the rest.

The command modules that use these aliases do not import ``annotations`` from ``__future__``: on
Python 3.9 (the Krew executable's floor) typer reads a parameter's annotation as written, and a
string annotation hides the ``Annotated`` options (the flags would fall back to their parameter names).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from kubectl_seccomp.formats import ProfileFormat


class Output(str, enum.Enum):
    """``-o`` of the cluster commands: a table on stdout, or the same data as JSON or YAML."""

    table = "table"
    json = "json"
    yaml = "yaml"


class NamedOutput(str, enum.Enum):
    """``-o`` of the commands about workloads: also ``name`` (``deployment.apps/web``, one per line)."""

    table = "table"
    json = "json"
    yaml = "yaml"
    name = "name"


class WatchOutput(str, enum.Enum):
    """``-o`` of ``watch``: a live table, or one JSON object per event and line."""

    table = "table"
    json = "json"


class Source(str, enum.Enum):
    """Where the agent reads the kernel's seccomp records."""

    auto = "auto"
    netlink = "netlink"
    auditlog = "auditlog"
    kmsg = "kmsg"


class Mode(str, enum.Enum):
    """How a profile is applied."""

    enforce = "enforce"
    complain = "complain"


class DryRun(str, enum.Enum):
    """kubectl's ``--dry-run``: ``--dry-run`` alone means ``client``."""

    none = "none"
    client = "client"
    server = "server"


# kubectl's global flags.
Namespace = Annotated[
    Optional[str], typer.Option("--namespace", "-n", help="Namespace (default: the context's, else default).")
]
Context = Annotated[Optional[str], typer.Option("--context", help="kubeconfig context to use.")]
Kubeconfig = Annotated[
    Optional[str], typer.Option("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")
]
RequestTimeout = Annotated[
    Optional[str],
    typer.Option(
        "--request-timeout",
        help="How long to wait for the API server to answer each request (e.g. 30s, 1m; a bare number is "
        "seconds; 0: no limit). Default: 10s to connect, 60s for an answer.",
        show_default=False,
    ),
]
Selector = Annotated[
    Optional[str],
    typer.Option("--selector", "-l", help="With a kind alone (deploy -l app=web): every workload of it matching."),
]

TARGET_HELP = "The workload: deploy/NAME, sts/NAME, ds/NAME, job/NAME, cj/NAME or po/NAME (or a kind with -l)."
Target = Annotated[str, typer.Argument(help=TARGET_HELP, show_default=False)]

# Output formats.
OUTPUT_NAMES = ("--output", "-o")
OutputOption = Annotated[Output, typer.Option(*OUTPUT_NAMES, help="Output format.")]
NamedOutputOption = Annotated[
    NamedOutput, typer.Option(*OUTPUT_NAMES, help="Output format (name: kind/name of each workload).")
]
WatchOutputOption = Annotated[
    WatchOutput, typer.Option(*OUTPUT_NAMES, help="table: a live table; json: one event per line.")
]
#: generate and merge print a profile: their output format is the profile's form (``--format`` as well).
PROFILE_FORMAT_HELP = (
    "json: the seccomp profile the kubelet, podman and docker (--security-opt seccomp=FILE) read; "
    "spo: a Security Profiles Operator SeccompProfile resource (kubectl apply -f)."
)
ProfileOutput = Annotated[ProfileFormat, typer.Option(*OUTPUT_NAMES, "--format", help=PROFILE_FORMAT_HELP)]
#: record writes files and prints a summary: the files' form has its own flag.
ProfileFormatOption = Annotated[
    ProfileFormat, typer.Option("--format", help="Form of the profile files written. " + PROFILE_FORMAT_HELP)
]
ResourceName = Annotated[
    Optional[str],
    typer.Option(
        "--name", help="metadata.name of the SeccompProfile (--format spo; default: made from the file name)."
    ),
]

# Files and directories.
To = Annotated[Optional[Path], typer.Option("--to", help="Write the profile to this file (default: stdout).")]
ProfileDir = Annotated[
    Path,
    typer.Option(
        "--profile-dir",
        help="Directory the profiles are written to (default: ./profiles).",
        show_default=False,
    ),
]

# The node pods.
Image = Annotated[
    str,
    typer.Option(
        "--image", help="Image of the node pods; needs python3 (default: docker.io/library/python:3.12-slim).",
        show_default=False,
    ),
]  # fmt: skip
AgentNamespace = Annotated[
    str,
    typer.Option(
        "--agent-namespace",
        envvar="KUBECTL_SECCOMP_AGENT_NAMESPACE",
        help="Namespace of the node pods (created if missing).",
    ),
]
SeccompRoot = Annotated[
    str,
    typer.Option(
        "--seccomp-root", help="The kubelet's seccomp directory on the nodes (default: /var/lib/kubelet/seccomp).",
        show_default=False,
    ),
]  # fmt: skip
NodeGuard = Annotated[
    bool,
    typer.Option(
        "--node-guard/--no-node-guard",
        help="Label the nodes holding each profile and require that label in the pod template, "
        "so no pod lands on a node without its profile (e.g. a node that joined later).",
    ),
]
SourceOption = Annotated[Source, typer.Option("--source", help="Where the kernel's seccomp records are read.")]
MODE_HELP = (
    "enforce: deny what the profile does not allow (EPERM); complain: allow it and log it "
    "(SCMP_ACT_LOG; `kubectl seccomp watch` shows it)."
)
DryRunOption = Annotated[
    DryRun,
    typer.Option(
        "--dry-run",
        help="client (also --dry-run alone): print the patch, send nothing; server: also have the API "
        "server check the patch (dryRun=All), change nothing; none: apply.",
    ),
]

# Recording and watching.
Duration = Annotated[Optional[str], typer.Option("--duration", help="Stop after this long (e.g. 30s, 5m).")]
Idle = Annotated[Optional[str], typer.Option("--idle", help="Stop when no new syscall was seen for this long.")]
IncludeDenied = Annotated[
    bool,
    typer.Option("--include-denied", help="Also allow calls that a filter denied (left out by default)."),
]
LogDenials = Annotated[
    bool,
    typer.Option(
        "--log-denials/--no-log-denials",
        help="Set SECCOMP_FILTER_FLAG_LOG so calls the profile denies are audited "
        "(runc 1.1 refuses profiles with flags; crun and newer runc take them).",
    ),
]


# Options whose help says what they do in each command.
_TIMEOUT_EXAMPLE = " (e.g. 90s, 5m)."
ApplyTimeout = Annotated[
    str, typer.Option("--timeout", help="How long the rollout may take before it is rolled back" + _TIMEOUT_EXAMPLE)
]
RecordTimeout = Annotated[
    str,
    typer.Option(
        "--timeout",
        help="How long each rollout (onto the log profile, back, onto the new profiles) may take before the "
        "workload is rolled back" + _TIMEOUT_EXAMPLE,
    ),
]
RollbackTimeout = Annotated[
    str, typer.Option("--timeout", help="How long the rollout to the old settings may take" + _TIMEOUT_EXAMPLE)
]
WatchTimeout = Annotated[
    str,
    typer.Option(
        "--timeout", help="With --apply: how long the rollout may take before it is rolled back" + _TIMEOUT_EXAMPLE
    ),
]
ApplyContainers = Annotated[
    Optional[list[str]],
    typer.Option("--container", "-c", help="Apply to this container (repeatable; default: all, init included)."),
]
RecordContainers = Annotated[
    Optional[list[str]],
    typer.Option("--container", "-c", help="Record only this container (repeatable; default: all, init included)."),
]
WatchContainers = Annotated[
    Optional[list[str]], typer.Option("--container", "-c", help="Watch only this container (repeatable; default: all).")
]
ApplyMode = Annotated[
    Optional[Mode], typer.Option("--mode", help=MODE_HELP + " Default: the file's own defaultAction.")
]
RecordMode = Annotated[Mode, typer.Option("--mode", help="How the recorded profiles are applied. " + MODE_HELP)]
