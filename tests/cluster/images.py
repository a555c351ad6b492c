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

``DebImage`` describes the application images of tests/e2e/apps (nginx, Redis,
PostgreSQL, a JVM service, Node.js, etcd): the files of some Debian packages,
fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` (nothing is
installed on the host, no maintainer script or service runs), plus the shared
libraries their ELF files load as ``ldd`` resolves them, plus busybox as
``/bin/sh``. ``deb_image_archive`` builds one; the tests import it into the
nodes themselves, so ``up`` stays as fast as before.

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
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

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


# -- images made of Debian packages ------------------------------------------------------

DEB_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubectl-seccomp" / "debs"
IMAGE_CACHE = DEB_CACHE.parent / "images"  # the image archives: the cluster's and the applications'
# Files no program reads at run time; they only make the image bigger.
DEB_SKIP = ("usr/share/doc/", "usr/share/man/", "usr/share/lintian/", "usr/share/bug/", "lib/systemd/", "etc/init.d/")


class ImageBuildError(Exception):
    """An image cannot be built on this host (a package or a library is missing)."""


@dataclass(frozen=True)
class DebImage:
    """An image made of Debian packages' files and the shared libraries they load.

    ``packages`` are unpacked whole (minus ``DEB_SKIP`` and ``skip``); the
    libraries their ELF files need come from those packages when they ship
    them, else from this host (the same Debian release). A library that neither
    has is an error naming it: add the package that ships it to ``packages``.
    ``files`` are written into the image (configuration, scripts, sources);
    ``prepare`` runs last, with the rootfs, e.g. to compile a program with the
    unpacked toolchain.
    """

    tag: str
    packages: tuple[str, ...]
    cmd: list[str]
    skip: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()  # empty directories the program expects (mode 1777)
    prepare: Optional[Callable[[Rootfs], None]] = None
    version: str = "v1"  # bump when the recipe changes in a way the inputs do not show


def deb_version(package: str) -> str:
    """The newest version of ``package`` a configured repository offers (not what dpkg has installed:
    a package installed from elsewhere is not downloadable)."""
    result = subprocess.run(["apt-cache", "madison", package], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[0] == package and "://" in parts[2]:
            return parts[1]
    raise ImageBuildError(f"no repository offers the Debian package {package!r}; run `apt-get update`")


def download_deb(package: str, version: str, cache: Path = DEB_CACHE) -> Path:
    """``apt-get download package=version`` into ``cache`` (reused when already there)."""
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{package}_{version.replace(':', '%3a')}_*.deb"
    found = sorted(cache.glob(pattern))
    if not found:
        result = subprocess.run(
            ["apt-get", "download", "-q", f"{package}={version}"], cwd=cache, capture_output=True, text=True
        )
        found = sorted(cache.glob(pattern))
        if result.returncode != 0 or not found:
            raise ImageBuildError(f"apt-get download {package}={version} failed: {result.stderr.strip()}")
    return found[0]


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def _library_dirs(root: Path) -> list[str]:
    """Directories of ``root`` holding shared objects, for ``LD_LIBRARY_PATH``."""
    return sorted({str(p.parent) for p in root.rglob("*.so*") if p.is_file() or p.is_symlink()})


def unpacked_libraries(root: Path, elves: list[Path]) -> tuple[set[Path], dict[str, list[str]]]:
    """Libraries ``elves`` (files under ``root``) load: image paths of host libraries, and the
    sonames ldd found nowhere (soname -> files needing it). Libraries under ``root`` are
    already in the image."""
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(_library_dirs(root)))
    host_libs: set[Path] = set()
    missing: dict[str, list[str]] = {}
    for elf in elves:
        result = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, env=env)
        for line in result.stdout.splitlines():
            line = line.strip()
            if "=> not found" in line:
                missing.setdefault(line.split()[0], []).append("/" + str(elf.relative_to(root)))
                continue
            match = re.search(r"(/\S+)\s+\(0x", line)
            if match and not match.group(1).startswith(str(root)):
                host_libs.add(Path(match.group(1)))
    return host_libs, missing


def build_deb_image(image: DebImage, rootfs: Rootfs, versions: dict[str, str]) -> None:
    rootfs.cmd = image.cmd
    rootfs.env = [PATH_ENV, *image.env]
    rootfs.add_base()
    rootfs.add_busybox()
    root = rootfs.root
    with tempfile.TemporaryDirectory(prefix="ksc-debs-") as tmp:
        for package in image.packages:
            deb = download_deb(package, versions[package])
            subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        unpacked = Path(tmp)
        for path in sorted(unpacked.rglob("*")):
            rel = str(path.relative_to(unpacked))
            if (path.is_dir() and not path.is_symlink()) or rel.startswith(DEB_SKIP + image.skip):
                continue
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                if target.is_dir() and not target.is_symlink():
                    continue
                target.unlink()
            if path.is_symlink():
                target.symlink_to(os.readlink(path))
            else:
                shutil.copy2(path, target)
    elves = [p for p in root.rglob("*") if _is_elf(p) and not str(p).startswith(str(root / "bin"))]
    host_libs, missing = unpacked_libraries(root, elves)
    if missing:
        lines = "; ".join(f"{soname} (for {', '.join(sorted(set(users))[:3])})" for soname, users in missing.items())
        raise ImageBuildError(
            f"image {image.tag}: no {lines}; add the Debian package that ships it to the image's packages"
        )
    for lib in sorted(host_libs):
        if not (root / str(lib).lstrip("/")).exists():
            rootfs.add_file(lib, str(lib))
        if str(lib).startswith("/lib64/") and not (root / "usr" / str(lib).lstrip("/")).exists():
            rootfs.add_file(lib, "/usr" + str(lib))
    for path, text in image.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if text.startswith("#!"):
            target.chmod(0o755)
    for d in image.dirs:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / d.lstrip("/")).chmod(0o1777)
    if image.prepare:
        image.prepare(rootfs)


def deb_image_archive(image: DebImage, cache: Path) -> Path:
    """Build (or reuse) the archive of ``image``; keyed by the package versions and the recipe."""
    versions = {package: deb_version(package) for package in image.packages}
    key = input_key(
        "deb",
        image.version,
        image.tag,
        sorted(versions.items()),
        image.cmd,
        image.skip,
        sorted(image.files.items()),
        image.env,
        image.dirs,
        BUSYBOX,
    )
    out = cache / f"{re.sub(r'[^A-Za-z0-9.]+', '_', image.tag)}-{key}.tar"
    if out.exists():
        return out
    print(f"images: building {image.tag} from {', '.join(f'{p}={v}' for p, v in versions.items())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ksc-image-") as tmp:
        rootfs = Rootfs(Path(tmp), cmd=[])
        build_deb_image(image, rootfs, versions)
        write_docker_archive(rootfs, image.tag, out)
    print(f"images: {image.tag} -> {out} ({os.path.getsize(out) // 1024 // 1024} MiB)", flush=True)
    return out


# -- the application images of tests/e2e/apps ------------------------------------------------

JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64" if GOARCH == "amd64" else f"/usr/lib/jvm/java-17-openjdk-{GOARCH}"
JAVA_SERVER = """\
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

/** Answers GET / with a small page; a fixed pool of worker threads, as services do. */
public class Server {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 128);
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.createContext("/", exchange -> {
            StringBuilder page = new StringBuilder("hello from the jvm\\n");
            for (int i = 0; i < 50; i++) page.append(Integer.toHexString(i * 7919)).append('\\n');
            byte[] body = page.toString().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) { out.write(body); }
        });
        server.start();
        System.out.println("listening on 8080");
    }
}
"""


def _compile_java_server(rootfs: Rootfs) -> None:
    """Compile /app/Server.java with the image's own JRE (its module image carries jdk.compiler)."""
    java = rootfs.root / JAVA_HOME.lstrip("/") / "bin" / "java"
    src = rootfs.root / "app" / "Server.java"
    subprocess.run(
        [str(java), "-m", "jdk.compiler/com.sun.tools.javac.Main", "-d", str(src.parent), str(src)],
        check=True,
    )


NGINX_CONF = """\
user nobody nogroup;
worker_processes 2;
daemon off;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 8080;
        root /srv/www;
        location / { index index.html; }
    }
}
"""
NODE_SERVER = """\
// Answers GET / with a small page; the event loop and libuv's thread pool do the rest.
const http = require('http');
const crypto = require('crypto');
const server = http.createServer((req, res) => {
  const body = 'hello from node ' + crypto.createHash('sha256').update(req.url).digest('hex') + '\\n';
  res.writeHead(200, {'Content-Type': 'text/plain'});
  res.end(body);
}).listen(8080, () => console.log('listening on 8080'));
// PID 1 gets no default SIGTERM action: stop accepting, finish, exit 0, as services do.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
"""
POSTGRES_START = """\
#!/bin/sh
# A fresh cluster in an emptyDir, reachable from the pod network without a password (test only).
set -e
initdb -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C >/tmp/initdb.log
echo "host all all 0.0.0.0/0 trust" >> "$PGDATA/pg_hba.conf"
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c jit=off \\
  -c shared_buffers=32MB -c checkpoint_timeout=30s -c autovacuum_naptime=5s "$@"
"""

NGINX_IMAGE = DebImage(
    tag="localhost/ksc-apps/nginx:1.22",
    packages=("nginx-light", "nginx", "libnginx-mod-http-echo"),
    cmd=["nginx", "-c", "/etc/nginx/ksc.conf"],
    files={"/etc/nginx/ksc.conf": NGINX_CONF, "/srv/www/index.html": "<h1>hello from nginx</h1>\n" * 20},
    dirs=("/var/log/nginx", "/var/lib/nginx"),
)
REDIS_IMAGE = DebImage(
    tag="localhost/ksc-apps/redis:7.0",
    packages=("redis-server", "redis-tools", "libjemalloc2", "liblzf1"),
    # RDB snapshots (BGSAVE: a forked child) every 5 s after a write: periodic work to test.
    cmd=["redis-server", "--protected-mode", "no", "--dir", "/tmp", "--save", "5 1", "--appendonly", "no"],
)
POSTGRES_IMAGE = DebImage(
    tag="localhost/ksc-apps/postgres:15",
    packages=("postgresql-15", "libpq5"),
    skip=("usr/lib/postgresql/15/lib/llvmjit", "usr/lib/postgresql/15/lib/bitcode/"),  # jit=off: no LLVM
    cmd=["/usr/local/bin/start-postgres"],
    env=("PGDATA=/tmp/pgdata", "TZ=UTC", "PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin"),
    files={
        "/usr/local/bin/start-postgres": POSTGRES_START,
        "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:postgres:/tmp:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "/etc/group": "root:x:0:\npostgres:x:999:\nnogroup:x:65534:\n",
    },
    prepare=lambda rootfs: _copy_zoneinfo(rootfs, "UTC", "Etc/UTC"),
)
JVM_IMAGE = DebImage(
    tag="localhost/ksc-apps/jvm:17",
    packages=("openjdk-17-jre-headless",),
    cmd=[f"{JAVA_HOME}/bin/java", "-Xmx128m", "-cp", "/app", "Server"],
    files={"/app/Server.java": JAVA_SERVER},
    prepare=_compile_java_server,
)
NODE_IMAGE = DebImage(
    tag="localhost/ksc-apps/node:18",
    packages=("nodejs", "libnode108", "libc-ares2", "libuv1", "node-acorn", "node-cjs-module-lexer", "node-undici"),
    cmd=["node", "/app/server.js"],
    files={"/app/server.js": NODE_SERVER},
)
ETCD_IMAGE = DebImage(
    tag="localhost/ksc-apps/etcd:3.4",
    packages=("etcd-server", "etcd-client"),
    cmd=["etcd"],
    env=("ETCD_DATA_DIR=/tmp/etcd", "ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379"),
)
APP_IMAGES = {
    "nginx": NGINX_IMAGE,
    "redis": REDIS_IMAGE,
    "postgres": POSTGRES_IMAGE,
    "jvm": JVM_IMAGE,
    "node": NODE_IMAGE,
    "etcd": ETCD_IMAGE,
}


def _copy_zoneinfo(rootfs: Rootfs, *zones: str) -> None:
    """PostgreSQL reads time zones from the system's tzdata (Debian builds it --with-system-tzdata)."""
    for zone in zones:
        rootfs.add_file(Path("/usr/share/zoneinfo") / zone, f"/usr/share/zoneinfo/{zone}")


def main(argv: list[str]) -> int:
    """``images.py apps``: build (or find cached) the application images of tests/e2e/apps, so a CI
    run on a fresh machine makes them while the cluster builds instead of in its first test."""
    if argv != ["apps"]:
        print("usage: images.py apps", file=sys.stderr)
        return 2
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    try:
        for image in APP_IMAGES.values():
            deb_image_archive(image, IMAGE_CACHE)
    except ImageBuildError as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
