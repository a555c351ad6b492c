"""``kubectl seccomp generate``: a profile from audit logs, no cluster needed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp import files
from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.formats import ProfileFormat, render_profile, resource_name
from kubectl_seccomp.generate import GenerateOptions, GenerateResult, generate

#: Shared with merge: how the profile is written.
FORMAT = typer.Option(
    ProfileFormat.json,
    "--format",
    help="json: the seccomp profile the kubelet, podman and docker (--security-opt seccomp=FILE) read; "
    "spo: a Security Profiles Operator SeccompProfile resource (kubectl apply -f).",
)
NAME = typer.Option(
    None, "--name", help="metadata.name of the SeccompProfile (--format spo; default: the output file's name)."
)


def command(
    audit_logs: list[str] = typer.Option(
        ...,
        "--audit-log",
        "-f",
        help="Audit log to read: audit.log (RAW or ENRICHED), dmesg, /dev/kmsg or journal text; "
        "gzip is detected; '-' reads standard input. Repeatable.",
    ),
    pids: Optional[list[int]] = typer.Option(None, "--pid", "-p", help="Keep only records of this pid. Repeatable."),
    comm: Optional[str] = typer.Option(None, "--comm", help="Keep only records whose comm is this name."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the profile here (default: stdout)."),
    include_denied: bool = typer.Option(
        False, "--include-denied", help="Also allow syscalls the log shows as denied (ERRNO, KILL, TRAP)."
    ),
    log_denials: bool = typer.Option(
        False,
        "--log-denials/--no-log-denials",
        help="Set SECCOMP_FILTER_FLAG_LOG so calls the profile denies show up in the audit log "
        "(runc 1.1 refuses profiles with flags; crun and newer runc take them).",
    ),
    form: ProfileFormat = FORMAT,
    name: Optional[str] = NAME,
) -> None:
    """Write a profile that allows exactly the syscalls logged in audit logs."""
    files.check_stdin_once(audit_logs, "--audit-log")
    bad_pids = [pid for pid in pids or () if pid <= 0]
    if bad_pids:
        raise UsageError(f"--pid {bad_pids[0]}: a process id is a positive number")
    if output is not None:
        files.refuse_same_file(audit_logs, output)
    options = GenerateOptions(
        audit_logs=tuple(audit_logs),
        pids=frozenset(pids or ()),
        comm=comm,
        include_denied=include_denied,
        log_denials=log_denials,
    )
    result = generate(options)
    assert result.profile is not None
    text = render_profile(result.profile, form, resource_name(name, output.name if output else None))
    if output is None:
        files.write_stdout(text)
    else:
        files.write_atomically(output, text)
    print_summary(result, output)


def print_summary(result: GenerateResult, output: Optional[Path]) -> None:
    stats = result.stats
    err = sys.stderr
    per_arch = ", ".join(f"{arch} {count}" for arch, count in result.syscalls_per_arch.items())
    print(f"lines read:       {stats.lines}", file=err)
    print(f"records used:     {result.records_used} (other processes: {result.records_filtered})", file=err)
    print(f"syscalls:         {per_arch}", file=err)
    print(f"lines skipped:    {stats.skipped} (malformed SECCOMP records: {stats.malformed})", file=err)
    lost = f"records lost:     {stats.lost} (from audit serial gaps)"
    if stats.suppressed:
        lost += f"; printk suppressed {stats.suppressed}"
    print(lost, file=err)
    if result.other_actions:
        print(f"other actions:    {result.other_actions} records (TRACE, USER_NOTIF, ...) not used", file=err)
    if result.unknown:
        print(f"unknown numbers:  {len(result.unknown)} (not in the syscall tables; not added)", file=err)
        for sighting in result.unknown:
            print(f"  {sighting.arch} syscall={sighting.syscall} x{sighting.count}", file=err)
    if result.denials:
        if result.options.include_denied:
            note = "allowed (--include-denied)"
        else:
            note = "not allowed; add --include-denied to allow them"
        print(f"denials:          {len(result.denials)} syscalls, {note}", file=err)
        for sighting in result.denials:
            pids = ",".join(map(str, sighting.pids[:5]))
            print(
                f"  {sighting.arch} {sighting.syscall} {sighting.action.name} x{sighting.count} (pid {pids})",
                file=err,
            )
    if stats.lost:
        print("warning: records were lost; the profile may miss syscalls", file=err)
    if output is not None:
        print(f"profile written:  {output}", file=err)
