"""The C census under AddressSanitizer and UndefinedBehaviorSanitizer, on random blocks.

It reads untrusted log text, so every out-of-bounds read or undefined operation must
be caught here rather than in a user's process. The module is built again with
``-fsanitize=address,undefined`` (gcc, as the test set-up installs it) and fed
blocks made of record fragments and random bytes, with and without needles.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCE = ROOT / "kubectl_seccomp" / "_census.c"

FUZZ = r"""
import importlib.util, random, sys
spec = importlib.util.spec_from_file_location("kubectl_seccomp._census", sys.argv[1])
census = importlib.util.module_from_spec(spec)
spec.loader.exec_module(census)
rng = random.Random(int(sys.argv[2]))
fragments = [b"audit(", b"1.2:", b"3)", b"SECCOMP", b"type=1326", b" pid=5 comm=", b"\n", b"(", b"P",
             b"9" * 20, b"type=DAEMON_", b"callbacks suppressed", b"\x00", b"\xff"]
needle_choices = [b" pid=5 comm=", b"5 comm=", b"P", b"(", b"\n"]
answered = 0
for _ in range(50_000):
    block = b"".join(rng.choice(fragments) if rng.random() < 0.8 else bytes([rng.randrange(256)])
                     for _ in range(rng.randrange(0, 40)))
    needles = tuple(rng.sample(needle_choices, rng.randrange(0, 4)))
    answered += census.census(block, needles) is not None
for bad in [(b"x", ("s",)), (b"x", (b"",)), ("s", ()), (b"x",)]:
    try:
        census.census(*bad)
    except TypeError:
        pass
    else:
        raise SystemExit(f"no TypeError for {bad!r}")
print("answered", answered)
"""


def test_census_is_clean_under_sanitizers(tmp_path: Path) -> None:
    compiler = shutil.which("gcc")
    assert compiler, "gcc is missing (.ci/run installs it)"
    runtime = [
        subprocess.run([compiler, f"-print-file-name={lib}"], capture_output=True, text=True, check=True).stdout.strip()
        for lib in ("libasan.so", "libubsan.so")
    ]
    if not all(Path(lib).is_file() for lib in runtime):
        pytest.fail(f"sanitizer runtimes missing: {runtime}")
    module = tmp_path / f"_census{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = f"-I{sysconfig.get_paths()['include']}"
    build = [compiler, "-shared", "-fPIC", "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-fno-omit-frame-pointer", include, str(SOURCE), "-o", str(module)]  # fmt: skip
    subprocess.run(build, check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-c", FUZZ, str(module), "20261128"],
        capture_output=True,
        text=True,
        timeout=600,
        # PYTHONMALLOC=malloc: AddressSanitizer then sees each bytes object's bounds (not pymalloc's arenas).
        env={"LD_PRELOAD": ":".join(runtime), "ASAN_OPTIONS": "detect_leaks=0", "PYTHONMALLOC": "malloc"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runtime error" not in result.stderr and "AddressSanitizer" not in result.stderr, result.stderr
    assert int(result.stdout.split()[-1]) > 1000  # most blocks are answered by C, not left to Python
