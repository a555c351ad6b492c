"""Build the self-contained ``kubectl-seccomp`` executable, its release archive and the Krew manifest.

One command, from the repository root::

    python3 scripts/build_dist.py

makes

- ``dist/kubectl-seccomp``: a Python zip application (``#!/usr/bin/env python3``) holding the
  ``kubectl_seccomp`` package and every runtime dependency, pure-Python files only, so that it runs
  on any CPython >= 3.9 on Linux and macOS, amd64 and arm64, with nothing installed but Python;
- ``dist/kubectl-seccomp_<version>.tar.gz``: the release archive Krew downloads (the executable and
  ``LICENSE``);
- ``plugin.yaml``: the Krew manifest rendered from the Jinja2 template ``krew-manifest.yaml`` with the
  version and the sha256 of that archive.

Why it is shaped so:

- The dependency set is frozen in ``scripts/dist-requirements.txt``: exact versions resolved for
  CPython 3.9 (the oldest Python we support, so every vendored file also parses there) and the sha256
  of one wheel each. ``--lock`` rewrites that file from ``pyproject.toml``. The build downloads those
  exact wheels with pip (``--require-hashes``) into ``build/dist-wheels/`` once; later builds reuse them
  and need no network.
- Wheels that only exist compiled (PyYAML, MarkupSafe) are taken as their CPython 3.9 manylinux wheel
  with the compiled modules dropped: both packages fall back to their pure-Python implementation.
  Any other package that loses a compiled file stops the build, since we do not know it still works.
- Same tree, same bytes: entries sorted, every timestamp 1980-01-01, fixed permissions, no ``.pyc``,
  no absolute path; the tar archive has mtime 0 and uid/gid 0, the gzip header no name and mtime 0.
  (Deflate output depends on the zlib library, so compare builds made with the same zlib.)
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
import re
import subprocess
import sys
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
class Artifacts:
    """What one build produced."""

    version: str
    zipapp: Path
    archive: Path
    sha256: str
    manifest: str


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
    # Our optional compiled census (its C source, stub and any built module) stays out: the
    # zipapp runs the pure-Python census everywhere.
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


def check_pure(entries: dict[str, bytes]) -> None:
    """Fail if any native code slipped into the zipapp."""
    for name, data in entries.items():
        if data.startswith(NATIVE_MAGIC) and not name.endswith((".py", ".txt", ".md")):
            raise BuildError(f"native code in the zipapp: {name}")


def render_manifest(version: str, sha256: str, wheels: Iterable[Path], template: Path = TEMPLATE) -> str:
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
    return environment.get_template(template.name).render(version=version, sha256=sha256)


def build(out: Path, ref: Optional[str] = None, manifest: Optional[Path] = MANIFEST) -> Artifacts:
    """Build everything into ``out``; write the manifest to ``manifest`` unless it is None."""
    pins = read_lock()
    wheels = fetch_wheels(pins)
    entries: dict[str, bytes] = {}
    for pin, wheel in zip(pins, wheels):
        for name, data in wheel_entries(wheel, pin):
            if name in entries and entries[name] != data:
                raise BuildError(f"two wheels hold different {name}")
            entries[name] = data
    version = project_version(ref)
    for name, data in tree_files(ref):
        entries[name] = data
    entries[f"{PACKAGE}-{version}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: kubectl-seccomp\nVersion: {version}\n".encode()
    )
    check_pure(entries)
    entries["__main__.py"] = MAIN_PY.replace("@BUILD_ID@", f"{version}-{build_id(entries)}").encode()

    out.mkdir(parents=True, exist_ok=True)
    zipapp_bytes = build_zipapp(entries)
    zipapp = out / EXECUTABLE
    zipapp.write_bytes(zipapp_bytes)
    zipapp.chmod(0o755)

    license_text = read_text_from(ref, "LICENSE")
    archive_bytes = build_tarball([(EXECUTABLE, zipapp_bytes, 0o755), ("LICENSE", license_text, 0o644)])
    archive = out / f"{EXECUTABLE}_{version}.tar.gz"
    archive.write_bytes(archive_bytes)
    digest = sha256_of(archive_bytes)
    rendered = render_manifest(version, digest, wheels)
    if manifest is not None:
        manifest.write_text(rendered, encoding="utf-8")
    return Artifacts(version, zipapp, archive, digest, rendered)


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
    print(f"{result.archive} sha256 {result.sha256}")
    if not args.no_manifest:
        print(f"{args.manifest} for v{result.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
