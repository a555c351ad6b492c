"""Everything the cluster commands show: tables, ``-o json|yaml``, progress, the live view.

The command cores (``kubectl_seccomp.workflows``) report through the Reporter protocol;
:class:`ConsoleReporter` implements it on stderr: a rich live panel while
tracing when stderr is a terminal, plain lines otherwise (CI logs, tests).
Data (tables, JSON, YAML) goes to stdout, so ``-o json`` output can be piped.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Optional, Union

from tabulate import tabulate

from kubectl_seccomp.kube.workloads import RolloutProgress
from kubectl_seccomp.targets import object_name
from kubectl_seccomp.trace import TraceView
from kubectl_seccomp.workflows._install import ApplyResult
from kubectl_seccomp.workflows.cleanup import CleanupResult
from kubectl_seccomp.workflows.record import PARTIAL_EXIT, RecordResult
from kubectl_seccomp.workflows.rollback import RollbackResult
from kubectl_seccomp.workflows.status import StatusReport, StatusRow

NAME = "name"  # -o name: kind.group/name of each workload, one per line, as kubectl prints it

# What -o json|yaml prints: plain data, nothing else.
Json = Union[None, bool, int, float, str, Sequence["Json"], Mapping[str, "Json"]]


def names(refs: Sequence[tuple[str, str]]) -> None:
    """``-o name``: each ``(kind, name)`` once, in order, as ``kind.group/name``."""
    seen = dict.fromkeys(object_name(kind, name) for kind, name in refs)
    sys.stdout.write("".join(f"{line}\n" for line in seen))
    sys.stdout.flush()


def emit(data: Json, output: str) -> None:
    """Print ``data`` as JSON or YAML on stdout."""
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    sys.stdout.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[Union[str, int, None]]]) -> None:
    sys.stdout.write(tabulate(rows, headers=list(headers), tablefmt="plain") + "\n")
    sys.stdout.flush()


class ConsoleReporter:
    """Progress on stderr; a live panel while tracing on a terminal."""

    def __init__(self, quiet: bool = False, live: Optional[bool] = None) -> None:
        self.quiet = quiet
        self.live_enabled = sys.stderr.isatty() if live is None else live
        self._live: Any = None
        self._last_plain = 0.0
        self._started = time.monotonic()

    def _print(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def phase(self, message: str) -> None:
        if not self.quiet:
            self._print(f"[{time.monotonic() - self._started:6.1f}s] {message}")

    def rollout(self, progress: RolloutProgress) -> None:
        if not self.quiet:
            self._print(
                f"         rollout: {progress.message} ({progress.updated}/{progress.desired} updated, "
                f"{progress.available} available)"
            )

    def warn(self, message: str) -> None:
        self._print(f"warning: {message}")

    def _panel(self, view: TraceView) -> Any:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("elapsed", f"{view.elapsed:6.1f}s (no new syscall for {view.idle:.1f}s)")
        grid.add_row("traced", f"{view.pods} pod(s), {view.containers} container(s)")
        grid.add_row("syscalls", str(view.syscalls))
        grid.add_row("newest", " ".join(view.newest) or "-")
        grid.add_row("records", f"{view.records} read, {view.lost} lost, {view.unattributed} unattributed")
        grid.add_row("sources", ", ".join(f"{node}: {src}" for node, src in sorted(view.sources.items())) or "-")
        if view.agents_down:
            grid.add_row("NOT TRACED", "agent lost on " + ", ".join(view.agents_down))
        grid.add_row("", "Ctrl-C stops the recording")
        return grid

    def trace(self, view: TraceView) -> None:
        if self.quiet:
            return
        if self.live_enabled:
            if self._live is None:
                from rich.console import Console
                from rich.live import Live

                self._live = Live(
                    self._panel(view), console=Console(stderr=True), refresh_per_second=4, transient=False
                )
                self._live.start()
            else:
                self._live.update(self._panel(view))
            return
        now = time.monotonic()
        if now - self._last_plain >= 5.0:
            self._last_plain = now
            print(
                f"         tracing {view.elapsed:5.1f}s: {view.pods} pod(s), {view.containers} container(s), "
                f"{view.syscalls} syscalls, {view.lost} lost, {view.unattributed} unattributed; newest: "
                f"{' '.join(view.newest[-5:])}"
                + (f"; NOT TRACED: agent lost on {', '.join(view.agents_down)}" if view.agents_down else ""),
                file=sys.stderr,
                flush=True,
            )

    def trace_done(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


# -- command results ------------------------------------------------------------


def _several(items: Sequence[Json], output: str) -> None:
    """One document for one result, a list for several (``-l`` selectors)."""
    emit(items[0] if len(items) == 1 else list(items), output)


def record_data(result: RecordResult) -> dict[str, Json]:
    return {
        "namespace": result.namespace,
        "kind": result.kind,
        "name": result.name,
        "stopReason": result.stop_reason,
        "execExitCode": result.exec_exit_code,
        "tracedSeconds": round(result.duration, 1),
        "containers": [
            {
                "container": c.container,
                "init": c.init,
                "syscalls": c.syscalls,
                "architectures": list(c.architectures),
                "pods": c.pods,
                "nodes": c.nodes,
                "file": str(c.path) if c.path else None,
                "applied": bool(result.applied and c.container in result.applied.profiles),
                "localhostProfile": result.applied.profiles.get(c.container) if result.applied else None,
            }
            for c in result.containers
        ],
        "records": result.counters.records,
        "lost": result.counters.lost,
        "unattributed": result.counters.unattributed,
        "otherContainers": result.foreign,
        "unknownSyscalls": list(result.unknown),
        "sources": result.sources,
        "manifest": result.applied.manifest if result.applied else None,
        "warnings": list(result.warnings),
        "partial": result.partial,
        "nodesEligible": result.nodes_eligible,
        "nodes": [
            {"node": n.node, "tracedSeconds": round(n.traced, 1), "gapSeconds": round(n.gap, 1), "agentPods": n.agents}
            for n in result.nodes
        ],
    }


def record_summary(results: Sequence[RecordResult], output: str) -> None:
    """The table printed at the end of ``record`` (or its JSON/YAML, or the names)."""
    if output == NAME:
        names([(result.kind, result.name) for result in results])
        return
    if output != "table":
        _several([record_data(result) for result in results], output)
        return
    for result in results:
        applied = result.applied.profiles if result.applied else {}
        print(
            f"{result.kind.lower()} {result.name}: stopped: {result.stop_reason}; traced {result.duration:.1f}s",
            file=sys.stderr,
        )
        if result.exec_exit_code is not None:
            print(f"--exec exit code: {result.exec_exit_code}", file=sys.stderr)
        table(
            ["CONTAINER", "SYSCALLS", "ARCHES", "PODS", "NODES", "PROFILE", "APPLIED"],
            [
                [
                    c.container + (" (init)" if c.init else ""),
                    c.syscalls,
                    ",".join(a.replace("SCMP_ARCH_", "").lower() for a in c.architectures),
                    c.pods,
                    c.nodes,
                    str(c.path) if c.path else "-",
                    applied.get(c.container) or "no",
                ]
                for c in result.containers
            ],
        )
        counters = result.counters
        print(
            f"audit records: {counters.records} read, {counters.lost} lost, {counters.unattributed} unattributed, "
            f"{result.foreign} sightings of other containers",
            file=sys.stderr,
        )
        if result.counters.lost:
            print("warning: audit records were lost; the profiles may miss syscalls", file=sys.stderr)
        if result.gaps:
            print(
                "nodes: "
                + "; ".join(
                    f"{n.node} traced {n.traced:.0f}s"
                    + (f", NOT traced {n.gap:.0f}s ({n.agents} agent pods)" if n.gap else "")
                    for n in result.nodes
                ),
                file=sys.stderr,
            )
        if result.partial:
            print(
                "PARTIAL: an agent was lost while tracing; the profiles (.partial.json) may miss syscalls "
                f"and were not applied (exit code {PARTIAL_EXIT}; --allow-partial accepts such a recording)",
                file=sys.stderr,
            )
        if result.applied is not None and result.applied.manifest is not None:
            _manifest(result.applied)


def _manifest(result: ApplyResult) -> None:
    import yaml

    print(
        f"{result.kind.lower()} {result.name} cannot change its pod template: the profiles are on the nodes; "
        "re-create it from this manifest to use them:",
        file=sys.stderr,
    )
    sys.stdout.write(yaml.safe_dump(result.manifest, sort_keys=False))


def apply_data(result: ApplyResult) -> dict[str, Json]:
    return {
        "namespace": result.namespace,
        "kind": result.kind,
        "name": result.name,
        "dryRun": ("server" if result.server_dry_run else "client") if result.dry_run else "none",
        "profiles": result.profiles,
        "nodes": list(result.nodes),
        "patch": list(result.patch),
        "manifest": result.manifest,
        "removedFiles": list(result.removed),
        "nodeGuard": list(result.guard),
        "sync": result.sync,
    }


def apply_summary(results: Sequence[ApplyResult], output: str) -> None:
    if output == NAME:
        names([(result.kind, result.name) for result in results])
        return
    if output != "table":
        _several([apply_data(result) for result in results], output)
        return
    for result in results:
        if result.manifest is not None:
            _manifest(result)
            continue
        if result.dry_run:
            if result.server_dry_run:
                line = f"dry run (server): the API server accepted this JSON Patch for {result.kind.lower()} "
                line += f"{result.name} and changed nothing:"
            else:
                line = f"dry run: this JSON Patch would be sent to {result.kind.lower()} {result.name}:"
            print(line, file=sys.stderr)
            sys.stdout.write(json.dumps(list(result.patch), indent=2) + "\n")
            continue
        table(["CONTAINER", "LOCALHOST PROFILE"], sorted(result.profiles.items()))
        if result.kind == "CronJob":
            print(
                f"installed on {len(result.nodes)} node(s); cronjob {result.name}'s next job uses the profile(s)",
                file=sys.stderr,
            )
        else:
            print(f"applied on {len(result.nodes)} node(s); pods are Ready", file=sys.stderr)
        if result.guard:
            print(f"node guard: pods only go to nodes labelled {', '.join(result.guard)}", file=sys.stderr)
        for path in result.removed:
            print(f"removed {path} from the nodes: no pod uses it any more", file=sys.stderr)
        if result.sync:
            print(
                f"daemonset {result.sync} keeps the profile(s) on every node, also on nodes that join later",
                file=sys.stderr,
            )


def rollback_summary(results: Sequence[RollbackResult], output: str) -> None:
    if output == NAME:
        names([(result.kind, result.name) for result in results])
        return
    if output != "table":
        _several(
            [
                {
                    "namespace": r.namespace,
                    "kind": r.kind,
                    "name": r.name,
                    "restored": r.restored,
                    "wasRecording": r.was_recording,
                }
                for r in results
            ],
            output,
        )
        return
    for result in results:
        table(
            ["CONTAINER", "RESTORED SECCOMP PROFILE"],
            [[name, json.dumps(value) if value else "unset"] for name, value in sorted(result.restored.items())],
        )
        print(f"{result.kind.lower()} {result.name}: original settings restored", file=sys.stderr)


def status_table(report: StatusReport, output: str) -> None:
    counts = report.counts()
    if output == NAME:
        names([(row.kind, row.name) for row in report.rows])
        return
    if output != "table":
        emit(
            {
                "containers": [{**row.as_dict(), "mode": report.mode(row)} for row in report.rows],
                "summary": counts,
                "unsetMeans": report.unset_means() if counts["unset"] else None,
                "seccompDefault": report.seccomp_default,
                "orphanFiles": report.orphan_files,
                "orphanLabels": report.orphan_labels,
            },
            output,
        )
        return
    if not report.rows:
        print("no workloads found", file=sys.stderr)
        return
    table(
        ["NAMESPACE", "KIND", "NAME", "CONTAINER", "MODE", "TYPE", "PROFILE", "RECORDING", "ON NODES", "GUARD"],
        [
            [
                row.namespace,
                row.kind,
                row.name,
                row.container + (" (init)" if row.init else ""),
                report.mode(row),
                row.profile_type,
                row.profile or "-",
                row.recording,
                f"{row.nodes_present}/{row.nodes_eligible}" if row.nodes_eligible is not None else "-",
                _guard_cell(row),
            ]
            for row in report.rows
        ],
    )
    print(
        f"{len(report.rows)} containers: {counts['Localhost']} Localhost, {counts['RuntimeDefault']} RuntimeDefault, "
        f"{counts['Unconfined']} Unconfined, {counts['unset']} unset",
        file=sys.stderr,
    )
    if counts["unset"]:
        print(f"unset means: {report.unset_means()}", file=sys.stderr)
    if report.orphan_files or report.orphan_labels:
        print(
            f"orphans: {report.orphan_files} profile file(s) and {report.orphan_labels} node label(s) no workload "
            "refers to (kubectl seccomp cleanup --orphans)",
            file=sys.stderr,
        )


def _guard_cell(row: StatusRow) -> str:
    if row.profile_type != "Localhost":
        return "-"
    if not row.guarded:
        return "off"
    return f"on, {row.pending_for_profile} pod(s) Pending" if row.pending_for_profile else "on"


def cleanup_summary(result: CleanupResult, output: str) -> None:
    data: dict[str, Json] = {
        "objectsDeleted": result.objects_deleted,
        "filesRemoved": result.files_removed,
        "namespaceDeleted": result.namespace_deleted,
        "stillRecording": list(result.still_recording),
        "labelsRemoved": {node: list(keys) for node, keys in result.labels_removed.items()},
    }
    if output != "table":
        emit(data, output)
        return
    files = sum(len(v) for v in result.files_removed.values())
    print(
        f"deleted {result.objects_deleted} pod(s)/ConfigMap(s), removed {files} profile file(s) from "
        f"{len(result.files_removed)} node(s) and {sum(len(k) for k in result.labels_removed.values())} "
        "node label(s)" + ("; namespace deleted" if result.namespace_deleted else ""),
        file=sys.stderr,
    )


@contextmanager
def evidence_on_failure() -> Iterator[None]:
    """Print a failed rollout's evidence (events, last log lines) before its one-line error."""
    from kubectl_seccomp.kube.errors import RolloutFailed

    try:
        yield
    except RolloutFailed as error:
        if error.evidence:
            print("evidence:", file=sys.stderr)
            for line in error.evidence:
                print(f"  {line}", file=sys.stderr)
        raise
