"""``kubectl seccomp record-local -- COMMAND...``: record containers on this host."""

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from kubectl_seccomp.commands import _options as opts
from kubectl_seccomp.local_record import LocalOptions, LocalRecording, record_local


def command(
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="-- COMMAND...",
            help="What to run, e.g. podman run --security-opt seccomp={log_profile} ...; "
            "{log_profile} is replaced by the path of a profile that logs every syscall.",
        ),
    ],
    profile_dir: opts.ProfileDir = Path("profiles"),
    source: opts.SourceOption = opts.Source.auto,
    audit_log: Annotated[
        str, typer.Option("--audit-log", help="auditd's log (auditlog source).")
    ] = "/var/log/audit/audit.log",
    containers: Annotated[
        Optional[list[str]],
        typer.Option("--container", "-c", help="Record only this container (id or prefix). Repeatable."),
    ] = None,
    settle: Annotated[float, typer.Option("--settle", help="Seconds to wait for records after COMMAND exits.")] = 1.0,
    include_denied: opts.IncludeDenied = False,
    log_denials: opts.LogDenials = False,
    output: opts.OutputOption = opts.Output.table,
) -> None:
    """Run COMMAND while recording; write one profile per container seen (needs root).

    The profiles are written to --profile-dir as DIR/CONTAINER-ID.json; -o json|yaml also prints
    what was recorded on stdout.
    """
    options = LocalOptions(
        command=tuple(command),
        output_dir=profile_dir,
        source=source.value,
        audit_log=audit_log,
        containers=tuple(c.lower() for c in containers or ()),
        settle=settle,
        include_denied=include_denied,
        log_denials=log_denials,
    )
    recording = record_local(options)
    print_summary(recording)
    if output is not opts.Output.table:
        from kubectl_seccomp import render

        render.emit(summary_data(recording), output.value)


def summary_data(recording: LocalRecording) -> dict[str, Any]:
    """What ``-o json|yaml`` prints: the recording's counts and the profiles written."""
    return {
        "source": recording.source,
        "exitCode": recording.exit_code,
        "counters": dict(recording.counters),
        "profiles": {
            container: {"path": str(path), "syscalls": len(recording.syscalls.get(container, ()))}
            for container, path in recording.profiles.items()
        },
        "unknown": list(recording.unknown),
        "denied": list(recording.denied),
    }


def print_summary(recording: LocalRecording) -> None:
    err = sys.stderr
    counters = recording.counters
    print(f"source:        {recording.source}; command exit code {recording.exit_code}", file=err)
    print(
        f"records:       {counters.get('records', 0)} (attributed {counters.get('attributed', 0)}, "
        f"unattributed {counters.get('unattributed', 0)}, lost {counters.get('lost', 0)})",
        file=err,
    )
    if not recording.profiles:
        print("no container made a logged syscall: nothing written", file=err)
        print("hint: start the container with --security-opt seccomp={log_profile}", file=err)
    for container, path in recording.profiles.items():
        print(f"{path}: {len(recording.syscalls[container])} syscalls (container {container[:12]})", file=err)
    for event in recording.unknown:
        print(f"unknown syscall number {event['number']} ({event['arch']}) not added", file=err)
    for event in recording.denied:
        print(f"denied {event['name']} ({event['action']}) not added; --include-denied adds it", file=err)
