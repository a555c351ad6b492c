"""Ctrl-C discipline: clean-up code that a second Ctrl-C cannot cut short.

SIGTERM is turned into KeyboardInterrupt too, so ``kill PID`` gets the same
orderly undo as Ctrl-C. Inside :func:`shielded`, both signals only print a
note: the work that puts the cluster back the way it was finishes first.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Optional


def _raise(_signum: int, _frame: Optional[FrameType]) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def shielded(note: Callable[[str], None]) -> Iterator[list[int]]:
    """Run the block with Ctrl-C/SIGTERM deferred; yields a list counting the signals seen."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    seen: list[int] = []

    def handler(signum: int, _frame: Optional[FrameType]) -> None:
        seen.append(signum)
        note(
            "cleaning up, putting the cluster back as it was; this finishes by itself (kill -9 leaves "
            "work for `kubectl seccomp rollback` and `cleanup`)"
        )

    previous: dict[int, Any] = {}
    for sig in (int(signal.SIGINT), int(signal.SIGTERM)):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield seen
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
