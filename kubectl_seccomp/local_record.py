"""Record the syscalls of containers on this host, without a cluster.

``kubectl seccomp record-local -- COMMAND...`` runs the node agent's follower
in this process (a thread reading the kernel's audit records), runs COMMAND,
and when COMMAND exits writes one profile per container that made a logged
syscall meanwhile. COMMAND starts the containers itself, typically
``podman run --security-opt seccomp={log_profile} ...``: ``{log_profile}`` in
any argument is replaced by the path of a profile that logs every syscall and
blocks none (the recording profile).

The core does no printing; the command module renders :class:`LocalRecording`.
Needs root (audit netlink, /proc of every process).
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kubectl_seccomp.agent.attribution import Attributor, ProcConnector
from kubectl_seccomp.agent.events import EventWriter
from kubectl_seccomp.agent.follow import Follower
from kubectl_seccomp.agent.sources import DEFAULT_AUDIT_LOG, open_source
from kubectl_seccomp.errors import AgentError, UsageError
from kubectl_seccomp.observed import PLATFORM_ARCHES, is_allowed, is_runtime, profile_for
from kubectl_seccomp.profile import Profile

LOG_PROFILE_TOKEN = "{log_profile}"


@dataclass(frozen=True)
class LocalOptions:
    """What to run and how to record it."""

    command: tuple[str, ...]
    output_dir: Path
    source: str = "auto"
    audit_log: str = DEFAULT_AUDIT_LOG
    containers: tuple[str, ...] = ()  # only these (ids or prefixes); () records every container
    settle: float = 1.0  # seconds to wait after COMMAND for records still in flight
    proc: str = "/proc"
    include_denied: bool = False  # also allow what a filter denied (ERRNO, KILL, TRAP records)
    # SECCOMP_FILTER_FLAG_LOG in the profiles, so denials show in the audit log.
    # Off by default, as everywhere in the plugin: runc 1.1 (Debian 12) refuses
    # any profile with "flags".
    log_denials: bool = False


@dataclass
class LocalRecording:
    """What a recording found and wrote."""

    exit_code: int
    source: str
    profiles: dict[str, Path] = field(default_factory=dict)  # container id -> file
    syscalls: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # id -> (arch, name)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    denied: list[dict[str, Any]] = field(default_factory=list)  # not allowed (no --include-denied)
    counters: dict[str, int] = field(default_factory=dict)


def log_profile_json(machine: Optional[str] = None) -> str:
    """The recording profile for this machine's architectures."""
    arches = PLATFORM_ARCHES.get(machine or platform.machine(), ("x86_64", "i386"))
    return Profile.log_profile(arches).to_json()


def record_local(options: LocalOptions) -> LocalRecording:
    """Record while ``options.command`` runs; write the profiles; return what was seen."""
    if not options.command:
        raise UsageError("no command given", hint="put the command after --, e.g. -- podman run ...")
    options.output_dir.mkdir(parents=True, exist_ok=True)
    source = open_source(options.source, options.audit_log, options.proc)
    try:
        connector: Optional[ProcConnector] = ProcConnector()
    except AgentError:
        connector = None
    sink = io.BytesIO()
    writer = EventWriter(sink, options.containers or None)
    follower = Follower(source, Attributor(options.proc, connector), writer, interval=3600.0)
    thread = threading.Thread(target=follower.run, name="seccomp-follower", daemon=True)
    with tempfile.TemporaryDirectory(prefix="kubectl-seccomp-") as tmp:
        log_profile = os.path.join(tmp, "log-profile.json")
        Path(log_profile).write_text(log_profile_json())
        command = [arg.replace(LOG_PROFILE_TOKEN, log_profile) for arg in options.command]
        thread.start()
        try:
            exit_code = _run(command)
            time.sleep(options.settle)
        finally:
            follower.stop()
            thread.join()
            source.close()
            if connector is not None:
                connector.close()
    return _write(options, _events(sink.getvalue()), exit_code, source.name)


def _run(command: Sequence[str]) -> int:
    try:
        return subprocess.call(list(command))
    except OSError as error:
        raise UsageError(f"cannot run {command[0]!r}: {error.strerror}") from error


def _events(output: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def _write(options: LocalOptions, events: list[dict[str, Any]], exit_code: int, source: str) -> LocalRecording:
    recording = LocalRecording(exit_code=exit_code, source=source)
    runtime_calls: set[tuple[str, str]] = set()
    for event in events:
        kind = event.get("event")
        if kind == "syscall" and not is_allowed(event["action"], options.include_denied):
            recording.denied.append(event)
        elif kind == "syscall":
            recording.syscalls.setdefault(event["container"], set()).add((event["arch"], event["name"]))
            if is_runtime(str(event.get("comm", ""))):
                runtime_calls.add((event["arch"], event["name"]))
        elif kind == "unknown":
            recording.unknown.append(event)
        elif kind == "counters":
            recording.counters = {k: v for k, v in event.items() if k != "event"}
    for container, observed in sorted(recording.syscalls.items()):
        path = options.output_dir / f"{container[:12]}.json"
        profile = profile_for(observed, runtime_calls, log_denials=options.log_denials)
        path.write_text(profile.to_json())
        recording.profiles[container] = path
    return recording
