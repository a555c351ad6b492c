"""Measure the start-up time of ``kubectl seccomp --help`` and ``version``, zipapp and installed package.

    python3 scripts/measure_startup.py [--runs 15] [--write]

Builds nothing: run ``python3 scripts/build_dist.py`` first (it reads ``dist/kubectl-seccomp``). Each
case runs ``--runs`` times in a clean environment (no PYTHONDONTWRITEBYTECODE, no PYTHONPATH) and
reports the median and the best wall time, and the median CPU time (user + system, which a busy
machine disturbs less than wall time). ``--write`` replaces the "## Start-up" section of
docs/performance.md (other sections belong to other benchmarks and are left as they are).

Cases:
- zipapp, first run: an empty unpack cache each time (what a user waits once per release);
- zipapp, cached: the normal run, modules imported from the unpacked copy with its ``__pycache__``;
- zipapp, no cache (``KUBECTL_SECCOMP_CACHE_DIR=``): everything imported from the zip, compiled each run;
- package: the package imported from the source tree with warm ``__pycache__`` (what ``pip install``
  gives), by the interpreter that runs this script, which has the dependencies installed;
- ``kubectl seccomp``: the cached zipapp found on PATH and run by the real kubectl (plugin lookup
  included).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZIPAPP = ROOT / "dist" / "kubectl-seccomp"
PERFORMANCE = ROOT / "docs" / "performance.md"
SYSTEM_PYTHON = "/usr/bin/python3"
KUBECTL = "/usr/bin/kubectl"


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run; the command must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def python_version(python: str) -> str:
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def measure(runs: int) -> str:
    if not ZIPAPP.exists():
        raise SystemExit("error: no dist/kubectl-seccomp: run python3 scripts/build_dist.py first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = {"PATH": "/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8"}
        cache = Path(tmp) / "cache"
        zip_python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
        cases: list[tuple[str, list[str], dict[str, str], bool]] = [
            ("zipapp, first run", [zip_python, str(ZIPAPP)], {**base, "KUBECTL_SECCOMP_CACHE_DIR": str(cache)}, True),
            ("zipapp, cached", [zip_python, str(ZIPAPP)], {**base, "KUBECTL_SECCOMP_CACHE_DIR": str(cache)}, False),
            ("zipapp, no cache", [zip_python, str(ZIPAPP)], {**base, "KUBECTL_SECCOMP_CACHE_DIR": ""}, False),
            ("package (pip install)", [sys.executable, "-m", "kubectl_seccomp"], base, False),
        ]
        if os.path.exists(KUBECTL) and zip_python == SYSTEM_PYTHON:
            through = {**base, "PATH": f"{ZIPAPP.parent}:{base['PATH']}", "KUBECTL_SECCOMP_CACHE_DIR": str(cache)}
            cases.append(("`kubectl seccomp`, zipapp cached", [KUBECTL, "seccomp"], through, False))
        for label, command, env, cold in cases:
            python = zip_python if command[0] == KUBECTL else command[0]
            for argv in (["--help"], ["version"]):
                timed([*command, *argv], env, ROOT)  # warm the page cache and __pycache__
                walls, cpus = [], []
                for _ in range(runs):
                    if cold:
                        shutil.rmtree(cache, ignore_errors=True)
                    wall, cpu = timed([*command, *argv], env, ROOT)
                    walls.append(wall)
                    cpus.append(cpu)
                median, best = round(statistics.median(walls) * 1000), round(min(walls) * 1000)
                cpu = round(statistics.median(cpus) * 1000)
                rows.append(f"| {label} | `{' '.join(argv)}` | {python_version(python)} | {median} | {best} | {cpu} |")
    load = os.getloadavg()[0]
    lines = [
        "## Start-up",
        "",
        f"`kubectl seccomp --help` and `version`, {runs} runs each, measured by `python3 scripts/measure_startup.py`",
        f"on {platform.machine()} Linux, {os.cpu_count()} CPUs, load average {load:.1f} when it started. Times in ms.",
        "",
        "| case | command | python | median wall | best wall | median CPU |",
        "| --- | --- | --- | ---: | ---: | ---: |",
        *rows,
        "",
    ]
    return "\n".join(lines)


def write_section(section: str, path: Path = PERFORMANCE) -> None:
    """Replace "## Start-up" up to the next "## " heading, or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    match = re.search(r"^## Start-up\n.*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    if match:
        explanation = _kept_explanation(match.group(0))
        rest = text[match.end() :]
        body = section.rstrip("\n") + "\n\n" + explanation if explanation else section
        text = text[: match.start()] + body + ("\n" if rest else "") + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def _kept_explanation(old_section: str) -> str:
    """Prose written under the table by hand (after a "<!-- notes -->" marker) survives a re-measure."""
    marker = "<!-- notes -->"
    return old_section[old_section.index(marker) :].rstrip("\n") + "\n" if marker in old_section else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="update the Start-up section of docs/performance.md")
    args = parser.parse_args(argv)
    section = measure(args.runs)
    print(section)
    if args.write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
