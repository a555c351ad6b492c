"""Which block census ``generate`` runs: the compiled one when it was built, else pure Python.

The census (lines, record marks, audit serials of a block; see
:func:`kubectl_seccomp.audit.census_block`) is the part of reading a big log
that touches every byte. ``kubectl_seccomp._census`` does it in C when a
compiler was present at ``pip install`` time. The Krew executables of
linux/amd64 and linux/arm64 carry it prebuilt (abi3) in ``_native/``, next to
``census.json`` naming its platform and sha256: once the executable is unpacked
into its cache directory, :func:`_load_prebuilt` checks both and loads it;
anything amiss (run from the zip itself, other machine, other hash, a Python
without the stable ABI) means the pure-Python
:func:`~kubectl_seccomp.audit.census_block`, silently. Both give the same
answers (tests compare them). ``KUBECTL_SECCOMP_PURE_PYTHON=1`` makes
``generate`` use the pure-Python census even where the compiled one exists
(the benchmark compares them so).
"""

from __future__ import annotations

import functools
import os
import sys
from types import ModuleType
from typing import Any, Optional

from kubectl_seccomp.audit import BlockCensus, Census

PURE_PYTHON_ENV = "KUBECTL_SECCOMP_PURE_PYTHON"

#: Where the Krew executable keeps the prebuilt census, relative to this package.
PREBUILT_DIR = "_native"
PREBUILT_INFO = "census.json"


def _load_prebuilt() -> Optional[ModuleType]:
    """The census the Krew executable carries, if it is on disk and made for this machine; else None."""
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), PREBUILT_DIR)
    if not os.path.isdir(directory):  # pip installs, the work tree, the zip itself
        return None
    import hashlib
    import json
    import platform

    try:
        with open(os.path.join(directory, PREBUILT_INFO), encoding="utf-8") as handle:
            info: dict[str, Any] = json.load(handle)
        if (
            sys.implementation.name != "cpython"
            or info.get("abi") != "abi3"
            or sys.platform != info.get("system")
            or platform.machine() not in info.get("machines", ())
        ):
            return None
        path = os.path.join(directory, str(info["file"]))
        with open(path, "rb") as handle:
            if hashlib.sha256(handle.read()).hexdigest() != info.get("sha256"):
                return None
        import importlib.machinery
        import importlib.util

        loader = importlib.machinery.ExtensionFileLoader(f"{__package__}._census", path)
        spec = importlib.util.spec_from_file_location(loader.name, path, loader=loader)
        if spec is None:
            return None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        # Inside the zip (no such file), a damaged cache, a foreign build: the pure-Python census.
        return None


try:
    from kubectl_seccomp import _census as _compiled
except ImportError:  # not built by pip: the Krew executable's prebuilt one, or none
    _compiled = _load_prebuilt()  # type: ignore[assignment]


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
