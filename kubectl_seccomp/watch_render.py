"""What ``kubectl seccomp watch`` shows: a live table, or one JSON object per line.

- ``-o table`` on a terminal: a table redrawn as calls come in (rich), the
  final one left on the screen.
- ``-o table`` into a pipe or file: one line per new (pod, container, process,
  syscall) as it is first seen, then the final table with the counts.
- ``-o json``: one JSON object per line for every new or changed row, for
  piping (``jq``); nothing else on stdout.

Progress and warnings go to stderr through :class:`~kubectl_seccomp.render.ConsoleReporter`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Optional

from kubectl_seccomp.render import ConsoleReporter, table
from kubectl_seccomp.watching import WatchRow, WatchState
from kubectl_seccomp.workflows.watch import FoldResult, WatchResult

HEADERS = ["LAST SEEN", "POD", "CONTAINER", "COMM", "EXE", "SYSCALL", "ACTION", "COUNT", "FIRST SEEN"]


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds)) if seconds else "-"


def _cells(row: WatchRow) -> list[Any]:
    return [
        _clock(row.last),
        row.pod,
        row.container,
        row.comm,
        row.exe,
        row.syscall,
        row.action,
        row.count,
        _clock(row.first),
    ]


def _sorted(state: WatchState) -> list[WatchRow]:
    return sorted(state.rows.values(), key=lambda r: (r.pod, r.container, r.syscall, r.comm))


class WatchConsole(ConsoleReporter):
    """The watch reporter: progress on stderr, calls on stdout in the chosen format."""

    def __init__(self, output: str, live: Optional[bool] = None) -> None:
        super().__init__()
        self.output = output
        self.terminal = sys.stdout.isatty() if live is None else live
        self._shown: set[tuple[str, ...]] = set()
        self._table_live: Any = None
        self._last_draw = 0.0

    def calls(self, row: WatchRow) -> None:
        if self.output == "json":
            print(json.dumps(row.as_dict(), separators=(",", ":")), flush=True)
        elif not self.terminal and row.key not in self._shown:
            self._shown.add(row.key)
            print(
                f"{_clock(row.last)}  pod={row.pod} container={row.container} comm={row.comm} exe={row.exe} "
                f"syscall={row.syscall} action={row.action}",
                flush=True,
            )

    def _table(self, state: WatchState, elapsed: float) -> Any:
        from rich.table import Table

        grid = Table(title=f"kubectl seccomp watch: {elapsed:.0f}s, {len(state.rows)} row(s); Ctrl-C stops")
        for header in HEADERS:
            grid.add_column(header)
        for row in _sorted(state):
            grid.add_row(*(str(cell) for cell in _cells(row)))
        return grid

    def tick(self, state: WatchState, elapsed: float) -> None:
        if self.output != "table" or not self.terminal or time.monotonic() - self._last_draw < 0.5:
            return
        self._last_draw = time.monotonic()
        if self._table_live is None:
            from rich.console import Console
            from rich.live import Live

            self._table_live = Live(self._table(state, elapsed), console=Console(file=sys.stdout), auto_refresh=False)
            self._table_live.start()
        self._table_live.update(self._table(state, elapsed), refresh=True)

    def watch_done(self, state: WatchState) -> None:
        if self._table_live is not None:
            self._table_live.stop()
            self._table_live = None
            return
        if self.output == "table" and state.rows:
            print()
            table(HEADERS, [_cells(row) for row in _sorted(state)])


def summary(result: WatchResult) -> None:
    """The closing lines on stderr."""
    containers = sorted({row.container for row in result.rows})
    print(
        f"watched {result.kind.lower()} {result.name} for {result.duration:.0f}s ({result.stop_reason}): "
        f"{len(result.rows)} row(s) in {len(containers)} container(s); "
        f"modes: {', '.join(f'{c}={m}' for c, m in sorted(result.modes.items()))}",
        file=sys.stderr,
    )
    if result.lost:
        print(f"warning: {result.lost} audit record(s) were lost on the nodes", file=sys.stderr)


def fold_report(result: FoldResult) -> None:
    """The diff of a folded profile file, on stderr (stdout stays the watch's)."""
    if not result.diff.added_syscalls and not result.diff.added_architectures:
        print(f"{result.path}: nothing to add", file=sys.stderr)
        return
    import difflib

    lines = difflib.unified_diff(
        result.before.splitlines(keepends=True),
        result.after.splitlines(keepends=True),
        fromfile=f"{result.path} (before)",
        tofile=f"{result.path}",
    )
    sys.stderr.write("".join(lines))
    added = ", ".join(result.diff.added_syscalls)
    print(f"{result.path}: added {added or 'architectures only'}", file=sys.stderr)
