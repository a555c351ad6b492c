"""``kubectl seccomp generate``: a profile from audit logs, no cluster needed."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kubectl_seccomp import files
from kubectl_seccomp.commands import _options as opts
from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.formats import ProfileFormat, render_profile, resource_name
from kubectl_seccomp.generate import GenerateOptions, GenerateResult, generate


def command(
    audit_logs: Annotated[
        list[str],
        typer.Option(
            "--audit-log",
            "-f",
            help="Audit log to read: audit.log (RAW or ENRICHED), dmesg, /dev/kmsg or journal text; "
            "gzip is detected; '-' reads standard input. Repeatable.",
        ),
    ],
    pids: Annotated[
        Optional[list[int]], typer.Option("--pid", "-p", help="Keep only records of this pid. Repeatable.")
    ] = None,
    comm: Annotated[Optional[str], typer.Option("--comm", help="Keep only records whose comm is this name.")] = None,
    to: opts.To = None,
    include_denied: Annotated[
        bool,
        typer.Option("--include-denied", help="Also allow syscalls the log shows as denied (ERRNO, KILL, TRAP)."),
    ] = False,
    log_denials: opts.LogDenials = False,
    form: opts.ProfileOutput = ProfileFormat.json,
    name: opts.ResourceName = None,
) -> None:
    """Write a profile that allows exactly the syscalls logged in audit logs."""
    files.check_stdin_once(audit_logs, "--audit-log")
    bad_pids = [pid for pid in pids or () if pid <= 0]
    if bad_pids:
        raise UsageError(f"--pid {bad_pids[0]}: a process id is a positive number")
    if to is not None:
        files.refuse_same_file(audit_logs, to)
    options = GenerateOptions(
        audit_logs=tuple(audit_logs),
        pids=frozenset(pids or ()),
        comm=comm,
        include_denied=include_denied,
        log_denials=log_denials,
    )
    result = generate(options)
    assert result.profile is not None
    text = render_profile(result.profile, form, resource_name(name, to.name if to else None))
    if to is None:
        files.write_stdout(text)
    else:
        files.write_atomically(to, text)
    print_summary(result, to)


def print_summary(result: GenerateResult, to: Optional[Path]) -> None:
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
    if to is not None:
        print(f"profile written:  {to}", file=err)
