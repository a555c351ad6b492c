"""Which block census ``generate`` runs: the compiled one when it was built, else pure Python.

The census (lines, record marks, audit serials of a block; see
:func:`kubectl_seccomp.audit.census_block`) is the part of reading a big log
that touches every byte. ``kubectl_seccomp._census`` does it in C when a
compiler was present at ``pip install`` time; the Krew zipapp holds only
Python and uses :func:`~kubectl_seccomp.audit.census_block`. Both give the
same answers (tests compare them). ``KUBECTL_SECCOMP_PURE_PYTHON=1`` makes
``generate`` use the pure-Python census even where the compiled one exists
(the benchmark compares them so).
"""

from __future__ import annotations

import functools
import os
from typing import Optional

from kubectl_seccomp.audit import BlockCensus, Census

PURE_PYTHON_ENV = "KUBECTL_SECCOMP_PURE_PYTHON"

try:
    from kubectl_seccomp import _census as _compiled
except ImportError:  # not built: no C compiler at install time, or the zipapp
    _compiled = None  # type: ignore[assignment]


def compiled_census(block: bytes, pids: frozenset[int]) -> Optional[BlockCensus]:
    """The C census of ``block`` as a :class:`BlockCensus`; None where the Python census must answer."""
    assert _compiled is not None
    found = _compiled.census(block, record_needles(pids))
    if found is None:
        return None
    lines, marks, serials, record_text = found
    # suppressed is 0: the C census leaves blocks with "callbacks suppressed" to Python.
    return BlockCensus(lines, marks, serials, 0, record_text)


@functools.lru_cache(maxsize=16)
def record_needles(pids: frozenset[int]) -> tuple[bytes, ...]:
    """The text every record of one of ``pids`` holds (the start of the record pattern's match)."""
    return tuple(f" pid={pid} comm=".encode() for pid in sorted(pids))


def active_census() -> Optional[Census]:
    """The census ``generate`` passes to the scanner: the compiled one, or None for pure Python."""
    if _compiled is None or os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    return compiled_census


def describe() -> str:
    """How blocks are counted, for ``kubectl seccomp version``."""
    if _compiled is None:
        return "census: pure Python"
    if active_census() is None:
        return f"census: pure Python ({PURE_PYTHON_ENV} is set; compiled one available)"
    return "census: compiled"
