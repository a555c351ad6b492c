"""Container images for the test cluster, built from files on this host.

There is no registry here, so every image a test or the plugin runs is made
locally as a docker-archive tarball (one layer, written with ``tarfile``) and
imported into each node's containerd under the ``k8s.io`` namespace:

* ``registry.k8s.io/pause:3.9`` -- Kubernetes' own ``pause.c`` (shipped in the
  k8s.io/kubernetes module) compiled statically; containerd's ``sandbox_image``.
* ``docker.io/library/busybox:1.36`` -- Debian's busybox-static with its applets.
* ``docker.io/library/python:3.12-slim`` -- the plugin's default agent image.
  The tag is borrowed: the contents are Debian's python3.11 (interpreter, the
  shared libraries it and its extension modules link, the standard library) plus
  busybox as ``/bin/sh``. Any python3 >= 3.9 runs the stdlib-only agent.
* ``registry.k8s.io/coredns/coredns:v1.14.7`` -- CoreDNS built by k8sbuild.py,
  the cluster DNS.

Archives are cached under ``~/.cache/kubectl-seccomp/images/``, keyed by a hash
of their inputs, so ``up`` rebuilds nothing on a warm machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.36"
PYTHON_IMAGE = "docker.io/library/python:3.12-slim"
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.14.7"

BUSYBOX = Path("/bin/busybox")
PYTHON = Path("/usr/bin/python3.11")
PYTHON_STDLIB = Path("/usr/lib/python3.11")
# Parts of the standard library no agent or HTTP server needs; they only add megabytes.
STDLIB_SKIP = {
    "config-3.11-x86_64-linux-gnu",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
    "__pycache__",
}
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


@dataclass
class Rootfs:
    """Files of an image-to-be: a staging directory plus the image config."""

    root: Path
    cmd: list[str]
    env: list[str] = field(default_factory=lambda: [PATH_ENV])
    entrypoint: list[str] | None = None

    def add_file(self, src: Path, dest: str | None = None, mode: int | None = None) -> None:
        target = self.root / (dest or str(src)).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src.resolve(), target)
        if mode is not None:
            target.chmod(mode)

    def add_symlink(self, dest: str, link_to: str) -> None:
        target = self.root / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() and not target.is_symlink():
            target.symlink_to(link_to)

    def add_base(self) -> None:
        """The few files every Linux image carries."""
        etc = self.root / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        )
        (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        (etc / "hosts").write_text("127.0.0.1 localhost\n")
        for d in ("tmp", "root", "proc", "sys", "dev", "var/tmp", "usr/bin", "usr/sbin", "bin", "sbin"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").chmod(0o1777)
        (self.root / "var/tmp").chmod(0o1777)

    def add_busybox(self) -> None:
        self.add_file(BUSYBOX, "/bin/busybox", 0o755)
        applets = subprocess.run([str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True).stdout
        for applet in applets.split():
            path = "/" + applet.lstrip("/")
            if os.path.dirname(path) == "/":  # linuxrc
                continue
            self.add_symlink(path, os.path.relpath("/bin/busybox", os.path.dirname(path)))


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Reproducible layers: root owner, fixed mtime."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def write_docker_archive(rootfs: Rootfs, tag: str, out: Path) -> None:
    """Write ``out`` in the format of ``docker save``: manifest.json, config, one layer."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(rootfs.root)), recursive=False, filter=_tar_filter)
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config: dict[str, object] = {
        "architecture": GOARCH,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": rootfs.env, "Cmd": rootfs.cmd, "Entrypoint": rootfs.entrypoint, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/cluster/images.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, mode="w") as tar:
        for name, data in (
            (config_name, config_bytes),
            (f"{diff_id}/layer.tar", layer_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    partial.rename(out)


def shared_libraries(binaries: list[Path]) -> set[Path]:
    """Every shared library ``binaries`` load, as ldd reports them (including the loader)."""
    libs: set[Path] = set()
    for binary in binaries:
        result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        for match in re.finditer(r"(/\S+)\s+\(0x", result.stdout):
            libs.add(Path(match.group(1)))
    return libs


def build_pause(rootfs: Rootfs, pause_c: Path) -> None:
    out = rootfs.root / "pause"
    subprocess.run(["gcc", "-Os", "-static", "-DVERSION=3.9-ksc", "-o", str(out), str(pause_c)], check=True)
    subprocess.run(["strip", str(out)], check=False)


def build_python(rootfs: Rootfs) -> None:
    rootfs.add_base()
    rootfs.add_busybox()
    rootfs.add_file(PYTHON, "/usr/bin/python3.11", 0o755)
    rootfs.add_symlink("/usr/bin/python3", "python3.11")
    rootfs.add_symlink("/usr/bin/python", "python3.11")
    rootfs.add_symlink("/usr/local/bin/python3", "/usr/bin/python3.11")
    extension_modules: list[Path] = []
    for path in PYTHON_STDLIB.rglob("*"):
        rel = path.relative_to(PYTHON_STDLIB)
        if set(rel.parts) & STDLIB_SKIP or path.is_dir():
            continue
        if path.is_symlink() and not path.exists():
            continue
        rootfs.add_file(path, str(path))
        if path.suffix == ".so":
            extension_modules.append(path)
    for lib in shared_libraries([PYTHON, *extension_modules]):
        rootfs.add_file(lib, str(lib))
        # Programs name the loader and libraries by their /lib64 or /lib path; keep both.
        if str(lib).startswith("/lib64/"):
            rootfs.add_file(lib, "/usr" + str(lib))


def input_key(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            st = part.stat()
            h.update(f"{part}:{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(str(part).encode())
    return h.hexdigest()[:16]


def image_archives(cache: Path, pause_c: Path, coredns: Path) -> dict[str, Path]:
    """Build (or reuse) the image archives; return tag -> archive path."""

    def pause(rootfs: Rootfs) -> None:
        rootfs.entrypoint, rootfs.cmd = ["/pause"], []
        build_pause(rootfs, pause_c)

    def busybox(rootfs: Rootfs) -> None:
        rootfs.cmd = ["sh"]
        rootfs.add_base()
        rootfs.add_busybox()

    def python(rootfs: Rootfs) -> None:
        rootfs.cmd = ["python3"]
        build_python(rootfs)

    def dns(rootfs: Rootfs) -> None:
        rootfs.entrypoint, rootfs.cmd = ["/coredns"], []
        rootfs.add_base()
        rootfs.add_file(coredns, "/coredns", 0o755)

    recipes: dict[str, tuple[str, Callable[[Rootfs], None]]] = {
        PAUSE_IMAGE: (input_key("pause-v1", pause_c), pause),
        BUSYBOX_IMAGE: (input_key("busybox-v2", BUSYBOX), busybox),
        PYTHON_IMAGE: (input_key("python-v2", PYTHON, BUSYBOX, PYTHON_STDLIB / "os.py"), python),
        COREDNS_IMAGE: (input_key("coredns-v1", coredns), dns),
    }
    archives: dict[str, Path] = {}
    for tag, (key, fill) in recipes.items():
        name = re.sub(r"[^A-Za-z0-9.]+", "_", tag)
        out = cache / f"{name}-{key}.tar"
        archives[tag] = out
        if out.exists():
            continue
        print(f"images: building {tag}", flush=True)
        with tempfile.TemporaryDirectory(prefix="ksc-image-") as tmp:
            rootfs = Rootfs(Path(tmp), cmd=[])
            fill(rootfs)
            write_docker_archive(rootfs, tag, out)
        print(f"images: {tag} -> {out} ({os.path.getsize(out) // 1024 // 1024} MiB)", flush=True)
    return archives
