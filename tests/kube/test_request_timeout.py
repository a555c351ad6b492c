"""``--request-timeout`` and Ctrl-C against an API server that accepts and never answers.

The real CLI runs as a subprocess with a kubeconfig pointing at a socket on
127.0.0.1 (``tests/kube/servers.py``); nothing is faked in between. Each
cluster command must give one line within the time allowed, with exit code 6,
and ask the server once (urllib3 would retry a read time-out three times).
"""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_seccomp.commands._cluster import request_timeout
from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.kube.api import ClientApi
from kubectl_seccomp.kube.config import ConnectionOptions, Timeouts, api_client, resolve
from tests.kube.servers import SilentServer, assert_one_short_error, cli_env, kubeconfig, run_cli, self_signed

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
}

# The five commands the issue saw hang, each with the first call it makes.
COMMANDS = {
    "status": ((), "list deployments.apps"),
    "rollback": (("deploy/web",), "get deployments.apps"),
    "record": (("deploy/web", "--duration", "10s"), "get deployments.apps"),
    "cleanup": ((), "list "),
    "apply": (("deploy/web", "-f", "{profile}", "--dry-run"), "get deployments.apps"),
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def hung(tls: tuple[Path, Path]) -> Iterator[SilentServer]:
    """Finishes the TLS handshake, reads the request, never answers: a hung API server."""
    server = SilentServer(tls)
    yield server
    server.close()


def command_line(name: str, config: Path, tmp_path: Path, *extra: str) -> list[str]:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    args = [a.format(profile=profile) for a in COMMANDS[name][0]]
    return [name, *args, "--kubeconfig", str(config), *extra]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_hung_server_is_one_line_within_the_request_timeout(
    name: str, hung: SilentServer, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    config = kubeconfig(tmp_path / "config", hung.port, ca=tls[0])
    result = run_cli(*command_line(name, config, tmp_path, "--request-timeout", "2s"), cwd=tmp_path)
    assert result.returncode == 6, result.stderr
    assert_one_short_error(
        result.stderr, f"error: the Kubernetes API server at 127.0.0.1:{hung.port} did not answer within 2s; "
        f"could not {COMMANDS[name][1]}",
    )  # fmt: skip
    assert "--request-timeout" in result.stderr.splitlines()[1]
    assert hung.connections == 1 and hung.requests == 1  # asked once: a time-out is not retried


def test_a_handshake_that_never_finishes_is_a_time_out_too(tmp_path: Path) -> None:
    server = SilentServer()  # accepts TCP, never says a word of TLS
    try:
        result = run_cli("status", "--kubeconfig", str(kubeconfig(tmp_path / "config", server.port)),
                         "--request-timeout", "1")  # fmt: skip
    finally:
        server.close()
    assert result.returncode == 6, result.stderr
    assert_one_short_error(
        result.stderr, f"error: the Kubernetes API server at 127.0.0.1:{server.port} did not answer within 1s"
    )
    assert server.connections == 1


@pytest.mark.parametrize("name", ["status", "record", "apply"])
def test_ctrl_c_while_waiting_says_nothing_was_changed(
    name: str, hung: SilentServer, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    config = kubeconfig(tmp_path / "config", hung.port, ca=tls[0])
    process = subprocess.Popen(
        [sys.executable, "-m", "kubectl_seccomp", *command_line(name, config, tmp_path, "--request-timeout", "0")],
        env=cli_env(), cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        hung.wait_for_blocked_client(process.pid)  # waits for an answer that never comes (0: no limit)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert err.splitlines() == [
        f"error: interrupted while waiting for the API server at 127.0.0.1:{hung.port} to "
        f"{COMMANDS[name][1]}; nothing was changed"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("0s", 0.0), ("30s", 30.0), ("1m", 60.0), ("5", 5.0), ("1m30s", 90.0), (None, None)],
)
def test_request_timeout_takes_kubectls_syntax(text: str | None, seconds: float | None) -> None:
    assert request_timeout(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-1", "5 minutes", "99999h"])
def test_a_bad_request_timeout_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--request-timeout"):
        request_timeout(text)


def test_a_bad_request_timeout_is_refused_before_connecting(hung: SilentServer, tmp_path: Path) -> None:
    result = run_cli("status", "--kubeconfig", str(kubeconfig(tmp_path / "c", hung.port)), "--request-timeout", "x")
    assert result.returncode == 2 and "--request-timeout 'x' is not a duration" in result.stderr, result.stderr
    assert hung.connections == 0


def test_timeouts_of_each_call_and_of_streams() -> None:
    default = Timeouts.from_request_timeout(None)
    assert default.for_call() == (10.0, 60.0)  # connect, each read of an answer
    assert default.for_stream() == (10.0, 60.0)  # a followed log: 60 s without a byte
    assert Timeouts.from_request_timeout(5).for_call() == (5, 5)
    assert Timeouts.from_request_timeout(5).for_stream() == (5, 60.0)  # not cut by the per-call limit
    assert Timeouts.from_request_timeout(120).for_stream() == (120, 120)
    assert Timeouts.from_request_timeout(0).for_call() is None  # kubectl's 0: wait forever
    assert Timeouts.from_request_timeout(0).for_stream() is None


class _SlowLog(http.server.BaseHTTPRequestHandler):
    """A followed pod log: a line, a pause longer than a call may take, a line, then silence."""

    protocol_version = "HTTP/1.1"

    def chunk(self, data: bytes) -> None:  # chunked, as the API server streams a followed log
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.chunk(b"first\n")
        time.sleep(2.0)
        self.chunk(b"second\n")
        time.sleep(60)  # a server gone quiet (the connection stays open)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_followed_log_outlives_the_call_timeout_and_ends_when_the_server_goes_quiet(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowLog)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = tmp_path / "config"
        config.write_text(kubeconfig(config, server.server_address[1]).read_text().replace("https://", "http://"))
        api = ClientApi(api_client(resolve(ConnectionOptions(kubeconfig=str(config)))),
                        Timeouts(connect=5, call=0.5, stream=8))  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(api.follow_pod_log("ns", "agent")), daemon=True)
        reader.start()
        reader.join(120)
        assert not reader.is_alive(), "the stream did not notice the silent server"
        assert lines == ["first", "second"]  # the 2 s pause did not cut it (each call: 0.5 s)
    finally:
        server.shutdown()
        server.server_close()


def test_ctrl_c_elsewhere_still_says_interrupted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """typer turns a KeyboardInterrupt into exit code 130 without a word; the CLI adds the word."""
    from kubectl_seccomp import cli
    from kubectl_seccomp.commands import _cluster

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cluster, "connect", interrupted)
    assert cli.run(["status"]) == 130
    assert capsys.readouterr().err.splitlines() == ["error: interrupted"]
