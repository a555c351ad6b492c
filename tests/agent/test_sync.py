"""The agent's ``sync`` verb: every indexed profile installed before any label is set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_seccomp.agent import sync
from kubectl_seccomp.agent.main import main
from kubectl_seccomp.errors import AgentError

PROFILE = b'{"defaultAction": "SCMP_ACT_LOG"}'


def _payload(tmp_path: Path, index: dict[str, dict[str, str]], files: dict[str, bytes]) -> tuple[Path, Path]:
    payload = tmp_path / "payload"
    payload.mkdir()
    for key, data in files.items():
        (payload / key).write_bytes(data)
    (payload / "index.json").write_text(json.dumps(index))
    return payload, payload / "index.json"


def test_install_all_writes_each_file_and_returns_the_labels(tmp_path: Path) -> None:
    index = {
        "kubectl-seccomp/a/web.json": {"key": "p-1.json", "label": "profiles.kubectl-seccomp.io/1"},
        "kubectl-seccomp/b/api.json": {"key": "p-2.json", "label": "profiles.kubectl-seccomp.io/2"},
    }
    payload, index_path = _payload(tmp_path, index, {"p-1.json": PROFILE, "p-2.json": PROFILE})
    root = tmp_path / "seccomp"
    labels = sync.install_all(str(root), str(payload), sync.read_index(str(index_path)))
    assert labels == ["profiles.kubectl-seccomp.io/1", "profiles.kubectl-seccomp.io/2"]
    assert (root / "kubectl-seccomp/a/web.json").read_bytes() == PROFILE
    assert (root / "kubectl-seccomp/b/api.json").read_bytes() == PROFILE


@pytest.mark.parametrize(
    ("index", "files", "message"),
    [
        ({"a.json": {"key": "../etc/passwd", "label": "x"}}, {}, "payload key"),
        ({"a.json": {"key": "p-1.json", "label": "x"}}, {}, "p-1.json"),
        ({"../a.json": {"key": "p-1.json", "label": "x"}}, {"p-1.json": PROFILE}, "leave the root"),
        ({"a.json": {"key": "p-1.json", "label": "x"}}, {"p-1.json": b"[]"}, "not a JSON object"),
    ],
)
def test_a_bad_payload_is_refused_before_any_label(
    tmp_path: Path, index: dict[str, dict[str, str]], files: dict[str, bytes], message: str
) -> None:
    payload, index_path = _payload(tmp_path, index, files)
    with pytest.raises(AgentError, match=message):
        sync.install_all(str(tmp_path / "root"), str(payload), sync.read_index(str(index_path)))


def test_a_malformed_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text('{"a.json": "p-1.json"}')
    with pytest.raises(AgentError, match="not"):
        sync.read_index(str(tmp_path / "index.json"))


def test_outside_a_pod_the_verb_says_it_cannot_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    index = {"a.json": {"key": "p-1.json", "label": "profiles.kubectl-seccomp.io/1"}}
    payload, index_path = _payload(tmp_path, index, {"p-1.json": PROFILE})
    ready = tmp_path / "ready"
    code = main(
        [
            "sync",
            "--root",
            str(tmp_path / "root"),
            "--payload",
            str(payload),
            "--index",
            str(index_path),
            "--ready-file",
            str(ready),
            "--once",
        ]
    )
    assert code == 1
    assert "KUBERNETES_SERVICE_HOST" in capsys.readouterr().err
    assert (tmp_path / "root" / "a.json").read_bytes() == PROFILE  # the file first, the label after it
    assert not ready.exists()  # not ready: the node is not labelled


def test_a_refusal_is_reported_with_the_api_servers_message() -> None:
    body = json.dumps({"kind": "Status", "status": "Failure", "message": "denied: " + "x" * 400}).encode()
    assert sync._status_message(body) == "denied: " + "x" * 400
    assert sync._status_message(b"<html>proxy error</html>") == "<html>proxy error</html>"
