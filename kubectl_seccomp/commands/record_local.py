"""``kubectl seccomp record-local -- COMMAND...``: record containers on this host."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp.local_record import LocalOptions, LocalRecording, record_local

# typer reads its options from the defaults; module-level so they are built once.
_COMMAND = typer.Argument(
    ..., metavar="-- COMMAND...",
    help="What to run, e.g. podman run --security-opt seccomp={log_profile} ...; "
    "{log_profile} is replaced by the path of a profile that logs every syscall.",
)
_OUTPUT = typer.Option(Path("profiles"), "--output", "-o", help="Directory for the profiles.")
_SOURCE = typer.Option("auto", "--source", help="auto, netlink, auditlog or kmsg.")
_AUDIT_LOG = typer.Option("/var/log/audit/audit.log", "--audit-log", help="auditd's log (auditlog source).")
_CONTAINERS = typer.Option(
    None, "--container", "-c", help="Record only this container (id or prefix). Repeatable."
)
_SETTLE = typer.Option(1.0, "--settle", help="Seconds to wait for records after COMMAND exits.")
_INCLUDE_DENIED = typer.Option(
    False, "--include-denied", help="Also allow syscalls that a filter denied during the recording."
)
_LOG_DENIALS = typer.Option(
    False, "--log-denials/--no-log-denials",
    help="Set SECCOMP_FILTER_FLAG_LOG so denials are logged (runc 1.1 refuses profiles with flags).",
)


def command(
    command: list[str] = _COMMAND,
    output: Path = _OUTPUT,
    source: str = _SOURCE,
    audit_log: str = _AUDIT_LOG,
    containers: Optional[list[str]] = _CONTAINERS,
    settle: float = _SETTLE,
    include_denied: bool = _INCLUDE_DENIED,
    log_denials: bool = _LOG_DENIALS,
) -> None:
    """Run COMMAND while recording; write one profile per container seen (needs root)."""
    options = LocalOptions(
        command=tuple(command),
        output_dir=output,
        source=source,
        audit_log=audit_log,
        containers=tuple(c.lower() for c in containers or ()),
        settle=settle,
        include_denied=include_denied,
        log_denials=log_denials,
    )
    print_summary(record_local(options))


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
