"""Build the self-contained ``kubectl-seccomp`` executable, its release archive and the Krew manifest.

One command, from the repository root::

    python3 scripts/build_dist.py

makes

- ``dist/kubectl-seccomp``: a Python zip application (``#!/usr/bin/env python3``) holding the
  ``kubectl_seccomp`` package and every runtime dependency, pure-Python files only, so that it runs
  on any CPython >= 3.9 on Linux and macOS, amd64 and arm64, with nothing installed but Python;
- ``dist/kubectl-seccomp_<version>.tar.gz``: the release archive Krew downloads on darwin and on
  Linux other than amd64/arm64 (the executable, ``kubectl_complete-seccomp`` and ``LICENSE``);
- ``dist/kubectl-seccomp_<version>_linux_amd64.tar.gz`` and ``..._linux_arm64.tar.gz``: the same, but
  the executable also carries the C census (``kubectl_seccomp/_census.c``) compiled for that platform
  against CPython's stable ABI (abi3, 3.9), in ``kubectl_seccomp/_native/`` next to ``census.json``
  (platform, sha256); ``kubectl_seccomp/census.py`` loads it once the executable is unpacked in its
  cache, after checking both, and runs the pure-Python census otherwise. The amd64 build uses
  ``x86_64-linux-gnu-gcc`` (``gcc`` on an amd64 machine), the arm64 one Debian's cross compiler
  ``aarch64-linux-gnu-gcc`` (package gcc-aarch64-linux-gnu); both compile against this Python's
  headers, which under ``Py_LIMITED_API`` expose only the 3.9 stable ABI (the LP64 little-endian
  ``pyconfig.h`` of amd64 holds for arm64 too);
- ``plugin.yaml``: the Krew manifest rendered from the Jinja2 template ``krew-manifest.yaml`` with the
  version and, per platform, the archive's name and sha256.

Why it is shaped so:

- The dependency set is frozen in ``scripts/dist-requirements.txt``: exact versions resolved for
  CPython 3.9 (the oldest Python we support, so every vendored file also parses there) and the sha256
  of one wheel each. ``--lock`` rewrites that file from ``pyproject.toml``. The build downloads those
  exact wheels with pip (``--require-hashes``) into ``build/dist-wheels/`` once; later builds reuse them
  and need no network.
- Wheels that only exist compiled (PyYAML, MarkupSafe) are taken as their CPython 3.9 manylinux wheel
  with the compiled modules dropped: both packages fall back to their pure-Python implementation.
  Any other package that loses a compiled file stops the build, since we do not know it still works.
- ``kubectl_complete-seccomp`` (a POSIX shell script) is what kubectl 1.26+ runs to complete
  ``kubectl seccomp <TAB>``: it runs ``kubectl-seccomp __complete WORDS``. Krew links only ``bin``
  into ``$KREW_ROOT/bin``; docs/install.md shows the one ``ln -s`` that adds it.
- Same tree, same bytes: entries sorted, every timestamp 1980-01-01, fixed permissions, no ``.pyc``,
  no absolute path; the tar archive has mtime 0 and uid/gid 0, the gzip header no name and mtime 0.
  (Deflate output depends on the zlib library and the compiled census on the compiler, so compare
  builds made with the same zlib and compilers; the census is built with no debug information, no
  build id, stripped, from a fixed file name in a temporary directory.)
- ``--git-ref REF`` takes the package and LICENSE from a commit instead of the work tree: release
  builds and the committed ``plugin.yaml`` then do not depend on uncommitted files.
- Nothing here imports the project or needs it installed: only the standard library, pip, and Jinja2
  imported from the downloaded wheel.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = ROOT / "scripts" / "dist-requirements.txt"
TEMPLATE = ROOT / "krew-manifest.yaml"
MANIFEST = ROOT / "plugin.yaml"
WHEEL_CACHE = ROOT / "build" / "dist-wheels"
PACKAGE = "kubectl_seccomp"
EXECUTABLE = "kubectl-seccomp"
COMPLETER = "kubectl_complete-seccomp"
CENSUS_SOURCE = f"{PACKAGE}/_census.c"
NATIVE_DIR = f"{PACKAGE}/_native"
NATIVE_FILE = "_census.abi3.so"
#: The stable ABI the census is compiled against: CPython 3.9, our floor.
LIMITED_API = "0x03090000"

#: The Python we resolve for: the oldest the plugin supports.
TARGET_PYTHON = "3.9"
#: pip options that select wheels usable by CPython 3.9; the lock's hashes pick one file each.
PIP_TARGET = [
    "--only-binary=:all:",
    "--python-version", TARGET_PYTHON,
    "--implementation", "cp",
    "--abi", "cp39",
    "--platform", "manylinux2014_x86_64",
]  # fmt: skip
#: Packages whose compiled modules may be dropped: they have a pure-Python fallback.
PURE_FALLBACK = {"pyyaml", "markupsafe"}
#: Files never vendored: compiled code, C sources, stubs, bytecode, the wheel's file list.
DROPPED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll", ".c", ".h", ".pyx", ".pxd", ".pyi", ".pyc", ".pyo")
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
#: Magic numbers of native code (ELF, Mach-O, PE): none may end up in the zipapp.
NATIVE_MAGIC = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

COMPLETER_SH = b"""#!/bin/sh
# kubectl (1.26 and later) runs this to complete `kubectl seccomp <TAB>`: the plugin answers itself.
exec kubectl-seccomp __complete "$@"
"""


@dataclass(frozen=True)
class NativeTarget:
    """A platform whose archive carries the compiled census."""

    os: str
    arch: str
    compilers: tuple[str, ...]  # the first found on PATH builds it
    machines: tuple[str, ...]  # platform.machine() values it runs on
    elf_machine: int  # e_machine of the ELF header

    @property
    def key(self) -> str:
        return f"{self.os}_{self.arch}"


NATIVE_TARGETS = (
    NativeTarget("linux", "amd64", ("x86_64-linux-gnu-gcc", "gcc") if platform.machine() == "x86_64"
                 else ("x86_64-linux-gnu-gcc",), ("x86_64", "amd64"), 62),
    NativeTarget("linux", "arm64", ("aarch64-linux-gnu-gcc",) + (("gcc",) if platform.machine() == "aarch64" else ()),
                 ("aarch64", "arm64"), 183),
)  # fmt: skip
SHEBANG = b"#!/usr/bin/env python3\n"

MAIN_PY = """\
# -*- coding: utf-8 -*-
\"\"\"Entry point of the kubectl-seccomp zip application (made by scripts/build_dist.py).

Python cannot cache the bytecode of modules it imports from a zip file, so a zipapp this size
would compile some 300 modules on every run (seconds for ``--help``). On the first run we unpack
the application once into a cache directory named after its build (``$XDG_CACHE_HOME`` or
``~/.cache``, ``~/Library/Caches`` on macOS, then ``kubectl-seccomp/zipapp/``;
``KUBECTL_SECCOMP_CACHE_DIR`` overrides that directory, an empty value turns the cache off) and
import from there, where Python keeps its ``__pycache__``. If that directory cannot be written, we
import from the zip itself: slower, same behaviour.
\"\"\"
import os
import sys

BUILD_ID = "@BUILD_ID@"

if sys.version_info < (3, 9):
    sys.stderr.write(
        "error: kubectl seccomp needs Python 3.9 or newer, but python3 on PATH is %d.%d\\n"
        "hint: put a newer python3 first on PATH\\n" % sys.version_info[:2]
    )
    sys.exit(1)


def _cache_root():
    configured = os.environ.get("KUBECTL_SECCOMP_CACHE_DIR")
    if configured is not None:
        return configured or None
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "kubectl-seccomp", "zipapp")


def _unpacked(archive, root):
    \"\"\"The directory holding this build unpacked, unpacking it first if needed; None if impossible.\"\"\"
    target = os.path.join(root, BUILD_ID)
    marker = os.path.join(target, ".complete")
    if os.path.isfile(marker):
        return target
    import shutil
    import tempfile
    import zipfile

    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".unpack-", dir=root)
        try:
            with zipfile.ZipFile(archive) as bundle:
                names = [n for n in bundle.namelist() if n != "__main__.py" and not n.endswith("/")]
                for name in names:
                    if name.startswith("/") or ".." in name.split("/"):
                        raise OSError("unexpected member %r" % name)
                bundle.extractall(staging, names)
            with open(os.path.join(staging, ".complete"), "w") as handle:
                handle.write(BUILD_ID + "\\n")
            try:
                os.rename(staging, target)
            except OSError:
                if not os.path.isfile(marker):  # not a lost race with another run
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for entry in os.listdir(root):  # earlier builds: the directory holds nothing else
            if entry != BUILD_ID and not entry.startswith("."):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
    except (OSError, zipfile.BadZipFile):
        return None
    return target if os.path.isfile(marker) else None


def _use_cache():
    root = _cache_root()
    archive = os.path.dirname(os.path.abspath(__file__))
    if root and os.path.isfile(archive) and sys.path and os.path.abspath(sys.path[0]) == archive:
        target = _unpacked(archive, root)
        if target is not None:
            sys.path[0] = target


_use_cache()

if sys.argv[1:2] == ["__complete"]:  # kubectl_complete-seccomp: completion, without the full CLI run
    from kubectl_seccomp.completion import main as complete

    complete(sys.argv[2:])
    sys.exit(0)

from kubectl_seccomp.cli import main  # noqa: E402

main()
"""


class BuildError(Exception):
    """A build step failed in a way the user can fix; the message says how."""


@dataclass(frozen=True)
class Pin:
    """One locked dependency: exact version and the sha256 of the one file we vendor."""

    name: str
    version: str
    sha256: str
    filename: str


@dataclass(frozen=True)
class Archive:
    """One release archive: its executable, the archive, and the platforms it is for."""

    key: str  # "any" or os_arch
    zipapp: Path
    archive: Path
    sha256: str


@dataclass(frozen=True)
class Artifacts:
    """What one build produced: the pure-Python archive (``zipapp``, ``archive``, ``sha256``) and the
    per-platform ones (``platforms``, by ``os_arch``)."""

    version: str
    zipapp: Path
    archive: Path
    sha256: str
    manifest: str
    platforms: dict[str, Archive]


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------
# The lock file


def read_lock(path: Path = LOCK_FILE) -> list[Pin]:
    """Parse the lock file: ``# file: NAME`` comment lines, then ``name==version --hash=sha256:HEX``."""
    pins: list[Pin] = []
    filename = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("# file: "):
            filename = line[len("# file: ") :].strip()
            continue
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})", line)
        if not match or not filename:
            raise BuildError(f"{path.name}: cannot read line {raw!r}; regenerate it with --lock")
        pins.append(Pin(normalize(match.group(1)), match.group(2), match.group(3), filename))
        filename = ""
    return pins


def project_dependencies(root: Path = ROOT) -> list[str]:
    """The ``[project].dependencies`` of pyproject.toml."""
    try:
        import tomllib
    except ImportError as error:  # Python < 3.11
        raise BuildError("--lock needs Python 3.11 or newer (tomllib)") from error
    with (root / "pyproject.toml").open("rb") as handle:
        data = tomllib.load(handle)
    return list(data["project"]["dependencies"])


def pip(*args: str) -> None:
    """Run pip of this interpreter; raise BuildError with its output on failure."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"pip failed: {' '.join(args[:2])} ...\n{result.stdout}{result.stderr}")


def lock(path: Path = LOCK_FILE) -> list[Pin]:
    """Resolve pyproject.toml's dependencies for CPython 3.9 and write the lock file."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        pip(
            "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
            "--target", str(Path(tmp) / "target"), *PIP_TARGET, *project_dependencies(),
        )  # fmt: skip
        resolved = json.loads(report.read_text(encoding="utf-8"))["install"]
        pins = []
        for item in resolved:
            name, version = normalize(item["metadata"]["name"]), item["metadata"]["version"]
            url: str = item["download_info"]["url"]
            filename = url.rsplit("/", 1)[-1]
            sha = item["download_info"]["archive_info"]["hashes"]["sha256"]
            if not filename.endswith("-none-any.whl"):
                # Prefer a pure wheel of the same version when one exists (charset-normalizer has both).
                pure = Path(tmp) / "pure" / name
                try:
                    pip(
                        "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", TARGET_PYTHON, "--implementation", "py", "--abi", "none",
                        "--platform", "any", "-d", str(pure), f"{name}=={version}",
                    )  # fmt: skip
                except BuildError:
                    if name not in PURE_FALLBACK:
                        raise BuildError(
                            f"{name} {version} has no pure-Python wheel and is not known to fall back to "
                            "pure Python without its compiled part; add it to PURE_FALLBACK only after "
                            "checking that"
                        ) from None
                else:
                    (wheel,) = pure.glob("*.whl")
                    filename, sha = wheel.name, sha256_of(wheel.read_bytes())
            pins.append(Pin(name, version, sha, filename))
    pins.sort(key=lambda pin: pin.name)
    lines = [
        "# Runtime dependencies vendored into dist/kubectl-seccomp by scripts/build_dist.py.",
        f"# Resolved for CPython {TARGET_PYTHON} (the oldest Python the plugin supports) from pyproject.toml;",
        "# one file each, pure-Python wheels where they exist, else the cp39 manylinux wheel whose compiled",
        "# speedups the build drops. Regenerate with: python3 scripts/build_dist.py --lock",
        "",
    ]
    for pin in pins:
        lines += [f"# file: {pin.filename}", f"{pin.name}=={pin.version} --hash=sha256:{pin.sha256}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pins


# ---------------------------------------------------------------------------------------------------
# Wheels


def cached_wheel(pin: Pin, cache: Path) -> Optional[Path]:
    """The pinned wheel in the cache, if it is there with the right hash."""
    path = cache / pin.filename
    if path.is_file() and sha256_of(path.read_bytes()) == pin.sha256:
        return path
    return None


def fetch_wheels(pins: list[Pin], cache: Path = WHEEL_CACHE) -> list[Path]:
    """The pinned wheels, downloaded (hash-checked by pip) unless all are cached already."""
    if any(cached_wheel(pin, cache) is None for pin in pins):
        cache.mkdir(parents=True, exist_ok=True)
        pip("download", "--quiet", "--no-deps", "--require-hashes", *PIP_TARGET, "-d", str(cache),
            "-r", str(LOCK_FILE))  # fmt: skip
    wheels = []
    for pin in pins:
        path = cached_wheel(pin, cache)
        if path is None:
            raise BuildError(f"pip did not download {pin.filename} with sha256 {pin.sha256}")
        wheels.append(path)
    return wheels


def wheel_entries(wheel: Path, pin: Pin) -> Iterator[tuple[str, bytes]]:
    """The files of a wheel we vendor: everything but compiled code, stubs and RECORD."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or name.endswith("/RECORD") or "__pycache__/" in name:
                continue
            base = name.rsplit("/", 1)[-1]
            if any(base.endswith(suffix) or f"{suffix}." in base for suffix in COMPILED_SUFFIXES):
                if pin.name not in PURE_FALLBACK:
                    raise BuildError(f"{wheel.name} holds compiled code ({name}) and has no known pure fallback")
                continue
            if base.endswith(DROPPED_SUFFIXES):
                continue
            yield name, archive.read(info)


# ---------------------------------------------------------------------------------------------------
# Our own files


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=True).stdout


def tree_files(ref: Optional[str]) -> Iterator[tuple[str, bytes]]:
    """Files of the ``kubectl_seccomp`` package, from the work tree or from commit ``ref``."""
    if ref is not None:
        names = git("ls-tree", "-r", "-z", "--name-only", ref, "--", PACKAGE).split(b"\0")
        for name in sorted(n.decode() for n in names if n):
            if _wanted(name):
                yield name, git("show", f"{ref}:{name}")
        return
    for directory, subdirs, files in os.walk(ROOT / PACKAGE):
        subdirs[:] = [d for d in subdirs if d != "__pycache__" and not d.startswith(".")]
        for file in files:
            path = Path(directory) / file
            name = path.relative_to(ROOT).as_posix()
            if _wanted(name):
                yield name, path.read_bytes()


def _wanted(name: str) -> bool:
    # The work tree's compiled census (its C source, stub and any module built in place) stays
    # out: the platform archives get theirs from compile_census, checked, under _native/.
    base = name.rsplit("/", 1)[-1]
    compiled = any(base.endswith(suffix) or f"{suffix}." in base for suffix in DROPPED_SUFFIXES)
    return not base.startswith(".") and not compiled and "__pycache__/" not in name


def read_text_from(ref: Optional[str], relative: str) -> bytes:
    """One file of the repository, from the work tree or from commit ``ref``."""
    if ref is not None:
        return git("show", f"{ref}:{relative}")
    return (ROOT / relative).read_bytes()


def project_version(ref: Optional[str]) -> str:
    """``__version__`` of the package, read without importing it."""
    text = read_text_from(ref, f"{PACKAGE}/__init__.py").decode("utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if not match:
        raise BuildError(f"no __version__ in {PACKAGE}/__init__.py")
    return match.group(1)


# ---------------------------------------------------------------------------------------------------
# Writing reproducible archives


def zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3  # Unix, whatever the build machine
    info.external_attr = mode << 16
    if name.endswith("/"):
        info.external_attr |= 0x10  # MS-DOS directory flag
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build_zipapp(entries: dict[str, bytes]) -> bytes:
    """Shebang + a zip of ``entries`` in sorted order, with explicit directory entries.

    Directory entries matter: zipimport recognizes namespace packages (a directory without
    ``__init__.py``) only by them.
    """
    directories = {name.rsplit("/", 1)[0] + "/" for name in entries if "/" in name}
    for directory in list(directories):
        parts = directory.rstrip("/").split("/")
        directories.update("/".join(parts[:i]) + "/" for i in range(1, len(parts)))
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(set(entries) | directories):
            if name in directories:
                archive.writestr(zip_info(name, 0o040755), b"")
            else:
                archive.writestr(zip_info(name, 0o100644), entries[name], compresslevel=9)
    return buffer.getvalue()


def build_tarball(members: list[tuple[str, bytes, int]]) -> bytes:
    """A gzip'd tar of (name, data, mode), sorted, mtime 0, owned by 0:0, no gzip name or time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data, mode in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as stream:
        stream.write(raw.getvalue())
    return packed.getvalue()


def build_id(entries: dict[str, bytes]) -> str:
    """A short digest of every entry: names the unpacked copy in the user's cache."""
    digest = hashlib.sha256()
    for name in sorted(entries):
        digest.update(f"{name}\0{len(entries[name])}\0".encode())
        digest.update(entries[name])
    return digest.hexdigest()[:16]


def check_pure(entries: dict[str, bytes], allowed: frozenset[str] = frozenset()) -> None:
    """Fail if any native code but ``allowed`` (the census we compiled) slipped into the zipapp."""
    for name, data in entries.items():
        if name in allowed:
            continue
        if data.startswith(NATIVE_MAGIC) and not name.endswith((".py", ".txt", ".md")):
            raise BuildError(f"native code in the zipapp: {name}")


# ---------------------------------------------------------------------------------------------------
# The compiled census


def find_compiler(target: NativeTarget) -> str:
    for name in target.compilers:
        path = shutil.which(name)
        if path:
            return path
    raise BuildError(
        f"no C compiler for {target.os}/{target.arch} ({' or '.join(target.compilers)}); "
        "on Debian: apt-get install gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
    )


def python_includes() -> list[str]:
    """Include directories of this Python's headers (Python.h, pyconfig.h)."""
    paths = sysconfig.get_paths()
    found = list(dict.fromkeys(p for p in (paths.get("include"), paths.get("platinclude")) if p))
    if not any((Path(p) / "Python.h").is_file() for p in found):
        raise BuildError(f"no Python.h in {', '.join(found)}: install the Python headers (python3-dev)")
    return found


def elf_machine(data: bytes) -> int:
    """e_machine of a 64-bit little-endian ELF shared object; 0 if it is not one."""
    if len(data) < 20 or not data.startswith(b"\x7fELF\x02\x01") or data[16:18] != b"\x03\x00":  # ET_DYN
        return 0
    return int.from_bytes(data[18:20], "little")


def compile_census(target: NativeTarget, source: bytes) -> bytes:
    """The census compiled for ``target`` as an abi3 module, the same bytes for the same compiler."""
    compiler = find_compiler(target)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "_census.c").write_bytes(source)
        command = [
            compiler, "-O2", "-fPIC", "-shared", "-std=gnu11", "-Wall", "-Werror",
            f"-DPy_LIMITED_API={LIMITED_API}", "-DNDEBUG", "-ffile-prefix-map=" + tmp + "=.",
            *[f"-I{path}" for path in python_includes()],
            "-Wl,--build-id=none", "-s", "-o", NATIVE_FILE, "_census.c",
        ]  # fmt: skip
        result = subprocess.run(command, cwd=tmp, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"compiling the census for {target.key} failed:\n{result.stderr}")
        data = (Path(tmp) / NATIVE_FILE).read_bytes()
    if elf_machine(data) != target.elf_machine:
        raise BuildError(f"{compiler} did not make an ELF shared object for {target.arch}")
    return data


def native_entries(target: NativeTarget, module: bytes) -> dict[str, bytes]:
    """The zipapp entries of the compiled census: the module and what census.py checks before loading it."""
    info = {
        "abi": "abi3",
        "file": NATIVE_FILE,
        "machines": list(target.machines),
        "python": ">=3.9",
        "sha256": sha256_of(module),
        "system": target.os,
    }
    return {
        f"{NATIVE_DIR}/{NATIVE_FILE}": module,
        f"{NATIVE_DIR}/census.json": (json.dumps(info, indent=2, sort_keys=True) + "\n").encode(),
    }


def render_manifest(
    version: str, archives: dict[str, Archive], wheels: Iterable[Path], template: Path = TEMPLATE
) -> str:
    """plugin.yaml from the Jinja2 template, with Jinja2 imported from its pinned wheel."""
    saved = list(sys.path)
    sys.path[:0] = [str(w) for w in wheels if w.name.lower().startswith(("jinja2-", "markupsafe-"))]
    try:
        import jinja2
    finally:
        sys.path[:] = saved

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template(template.name).render(
        version=version, archives={key: {"name": a.archive.name, "sha256": a.sha256} for key, a in archives.items()}
    )


def build(
    out: Path, ref: Optional[str] = None, manifest: Optional[Path] = MANIFEST, version: Optional[str] = None
) -> Artifacts:
    """Build everything into ``out``; write the manifest to ``manifest`` unless it is None.

    ``version`` replaces the package's ``__version__`` (in the archives too): the upgrade test
    builds a next release so.
    """
    pins = read_lock()
    wheels = fetch_wheels(pins)
    entries: dict[str, bytes] = {}
    for pin, wheel in zip(pins, wheels):
        for name, data in wheel_entries(wheel, pin):
            if name in entries and entries[name] != data:
                raise BuildError(f"two wheels hold different {name}")
            entries[name] = data
    if version is None:
        version = project_version(ref)
    for name, data in tree_files(ref):
        entries[name] = data
    init = f"{PACKAGE}/__init__.py"
    entries[init] = re.sub(
        rb"^__version__\s*=.*$", f'__version__ = "{version}"'.encode(), entries[init], count=1, flags=re.MULTILINE
    )
    entries[f"{PACKAGE}-{version}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: kubectl-seccomp\nVersion: {version}\n".encode()
    )
    check_pure(entries)
    license_text = read_text_from(ref, "LICENSE")
    census_source = read_text_from(ref, CENSUS_SOURCE)
    out.mkdir(parents=True, exist_ok=True)

    archives = {"any": write_archive(out, version, "any", entries, license_text)}
    for target in NATIVE_TARGETS:
        native = native_entries(target, compile_census(target, census_source))
        check_pure({**entries, **native}, allowed=frozenset({f"{NATIVE_DIR}/{NATIVE_FILE}"}))
        archives[target.key] = write_archive(out, version, target.key, {**entries, **native}, license_text)
    rendered = render_manifest(version, archives, wheels)
    if manifest is not None:
        manifest.write_text(rendered, encoding="utf-8")
    pure = archives["any"]
    platforms = {key: archive for key, archive in archives.items() if key != "any"}
    return Artifacts(version, pure.zipapp, pure.archive, pure.sha256, rendered, platforms)


def write_archive(out: Path, version: str, key: str, entries: dict[str, bytes], license_text: bytes) -> Archive:
    """The zipapp of ``entries`` and its release archive, named for platform ``key`` ("any": none)."""
    entries = {**entries, "__main__.py": MAIN_PY.replace("@BUILD_ID@", f"{version}-{build_id(entries)}").encode()}
    zipapp_bytes = build_zipapp(entries)
    suffix = "" if key == "any" else f"_{key}"
    directory = out if key == "any" else out / key
    directory.mkdir(parents=True, exist_ok=True)
    zipapp = directory / EXECUTABLE
    zipapp.write_bytes(zipapp_bytes)
    zipapp.chmod(0o755)
    archive_bytes = build_tarball(
        [(EXECUTABLE, zipapp_bytes, 0o755), (COMPLETER, COMPLETER_SH, 0o755), ("LICENSE", license_text, 0o644)]
    )
    archive = out / f"{EXECUTABLE}_{version}{suffix}.tar.gz"
    archive.write_bytes(archive_bytes)
    return Archive(key, zipapp, archive, sha256_of(archive_bytes))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    parser.add_argument("--git-ref", help="build the package from this commit instead of the work tree")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="where to write plugin.yaml")
    parser.add_argument("--no-manifest", action="store_true", help="do not write plugin.yaml")
    parser.add_argument("--lock", action="store_true", help="re-resolve scripts/dist-requirements.txt first")
    args = parser.parse_args(argv)
    try:
        if args.lock:
            pins = lock()
            print(f"locked {len(pins)} packages in {LOCK_FILE.relative_to(ROOT)}")
        result = build(args.out, args.git_ref, None if args.no_manifest else args.manifest)
    except (BuildError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{result.zipapp} ({result.zipapp.stat().st_size} bytes)")
    for archive in [result.archive, *(a.archive for a in result.platforms.values())]:
        print(f"{archive} sha256 {sha256_of(archive.read_bytes())}")
    if not args.no_manifest:
        print(f"{args.manifest} for v{result.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
