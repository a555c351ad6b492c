"""Connection and TLS failures against real servers on 127.0.0.1, through the real CLI.

A TLS server with a self-signed certificate (answering every request with a
403 Status), a closed port: each must give one short line and a hint, never
urllib3's internals or its InsecureRequestWarning with a site-packages path.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube.servers import assert_one_short_error, kubeconfig, run_cli, self_signed


class _Forbidden(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "no",
                "reason": "Forbidden",
                "code": 403,
            }
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An HTTPS server with a self-signed certificate for 127.0.0.1."""
    cert, key = self_signed(tmp_path_factory.mktemp("pki"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def status(config: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("status", "--kubeconfig", str(config))


def test_an_untrusted_certificate_is_a_certificate_problem(tls_port: int, tmp_path: Path) -> None:
    result = status(kubeconfig(tmp_path / "config", tls_port))
    assert result.returncode == 6
    assert_one_short_error(
        result.stderr,
        f"error: the Kubernetes API server at 127.0.0.1:{tls_port} has a certificate we do not trust "
        "(self-signed certificate)",
    )
    assert "certificate-authority" in result.stderr.splitlines()[1]


def test_insecure_skip_tls_verify_prints_no_urllib3_warning(tls_port: int, tmp_path: Path) -> None:
    result = status(kubeconfig(tmp_path / "config", tls_port, insecure=True))
    # The server answers 403 to everything: we got through TLS, and said so in one line.
    assert result.returncode == 5
    assert_one_short_error(result.stderr, "error: forbidden: cannot list ")


def test_a_refused_connection_is_one_short_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on (bound, then closed)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = status(kubeconfig(tmp_path / "config", port))
    assert result.returncode == 6
    assert_one_short_error(
        result.stderr, f"error: the Kubernetes API server at 127.0.0.1:{port} refused the connection"
    )
