"""Stand-ins for an API server on 127.0.0.1 that misbehave, and the real CLI run against them.

``SilentServer`` accepts connections and never answers: with ``tls`` it
finishes the TLS handshake first (a hung API server), without it it does not
even do that (the handshake hangs). It counts connections and requests, so a
test can show that a time-out was not retried and that a bad flag was refused
before any connection.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[2]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` of a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def kubeconfig(path: Path, port: int, insecure: bool = False, ca: Optional[Path] = None) -> Path:
    extra = ", insecure-skip-tls-verify: true" if insecure else ""
    if ca is not None:
        extra += f", certificate-authority: {ca}"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}"{extra}}}}}]\n'
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    return path


def cli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KUBECONFIG", None)
    return env


def run_cli(*args: str, cwd: Optional[Path] = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``kubectl seccomp ARGS`` as a subprocess (the real CLI of this repo)."""
    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", *args],
        capture_output=True, text=True, env=cli_env(), timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def assert_one_short_error(stderr: str, starts: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(starts) and lines[1].startswith("hint: "), stderr
    assert len(lines[0]) < 200, stderr
    for internal in ("urllib3", "Pool", "site-packages", "Max retries", "Traceback", "Warning"):
        assert internal not in stderr, stderr


def _sleeping_in_a_syscall(pid: int) -> bool:
    """Whether every thread of ``pid`` sleeps inside a system call (per /proc)."""
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir():
        state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        if state != "S" or (task / "syscall").read_text().startswith("running"):
            return False
    return True


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (see the module docstring)."""

    def __init__(self, tls: Optional[tuple[Path, Path]] = None) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._context: Optional[ssl.SSLContext] = None
        if tls is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*tls)
        self.connections = 0
        self.requests = 0  # connections that sent the start of an HTTP request
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._held.append(conn)
            if self._context is not None:
                threading.Thread(target=self._handshake_and_read, args=(conn,), daemon=True).start()

    def _handshake_and_read(self, conn: socket.socket) -> None:
        assert self._context is not None
        try:
            wrapped = self._context.wrap_socket(conn, server_side=True)
            with self._lock:
                self._held.append(wrapped)
            if wrapped.recv(4096):  # the request's first bytes; the answer never comes
                with self._lock:
                    self.requests += 1
        except OSError:
            pass

    def wait_for_request(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.requests == 0:
            assert time.monotonic() < deadline, "the CLI sent no request"
            time.sleep(0.05)

    def wait_for_blocked_client(self, pid: int, timeout: float = 60) -> None:
        """Wait for the request, then until process ``pid`` sleeps in a system call (its read).

        A signal that lands between the client's send and its read is only noted by Python's
        handler; the read that follows then blocks anyway, and just a second Ctrl-C would
        end it. The server sees the request inside that window, so the test waits for the read.
        """
        self.wait_for_request(timeout)
        deadline = time.monotonic() + timeout
        while not _sleeping_in_a_syscall(pid):
            assert time.monotonic() < deadline, f"process {pid} never blocked waiting for the answer"
            time.sleep(0.02)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()
