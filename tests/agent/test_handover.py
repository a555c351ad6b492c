"""The agent's handover: requests in a (downward API) file become profile files and one answer line each."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubectl_seccomp.agent.handover import answer
from kubectl_seccomp.trace import HandedOver, parse_event

PROFILE = '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}'


def test_a_request_installs_and_removes_and_answers_with_the_digests(tmp_path: Path) -> None:
    (tmp_path / "kubectl-seccomp" / "ns").mkdir(parents=True)
    (tmp_path / "kubectl-seccomp" / "ns" / "old.json").write_text("{}")
    request = {
        "id": "r1",
        "install": {"kubectl-seccomp/ns/web.json": PROFILE},
        "remove": ["kubectl-seccomp/ns/old.json"],
    }

    result = answer(json.dumps(request), str(tmp_path))

    assert (tmp_path / "kubectl-seccomp" / "ns" / "web.json").read_text() == PROFILE
    assert not (tmp_path / "kubectl-seccomp" / "ns" / "old.json").exists()
    digest = hashlib.sha256(PROFILE.encode()).hexdigest()
    assert result == {"event": "handed-over", "id": "r1", "files": {"kubectl-seccomp/ns/web.json": digest}}
    # the CLI reads the same line back
    assert parse_event(json.dumps(result)) == HandedOver("r1", {"kubectl-seccomp/ns/web.json": digest})


def test_bad_requests_are_answered_as_failures_and_write_nothing_outside_the_root(tmp_path: Path) -> None:
    outside = {"id": "r2", "install": {"../escape.json": PROFILE}}
    not_json = {"id": "r3", "install": {"kubectl-seccomp/a.json": "not json"}}
    for request, words in ((outside, "would leave the root"), (not_json, "is not JSON")):
        result = answer(json.dumps(request), str(tmp_path / "root"))
        assert result["event"] == "handover-failed" and result["id"] == request["id"]
        assert words in str(result["message"])
    assert answer("{garbage", str(tmp_path))["event"] == "handover-failed"
    assert not (tmp_path / "escape.json").exists()
    failed = parse_event(json.dumps(answer("[]", str(tmp_path))))
    assert isinstance(failed, HandedOver) and failed.failure == "the request is not a JSON object"


def test_the_agent_answers_each_new_request_once_and_stops_on_sigterm(tmp_path: Path) -> None:
    request_file = tmp_path / "request"
    request_file.write_text("")
    root = tmp_path / "root"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubectl_seccomp.agent",
            "handover",
            "--root",
            str(root),
            "--request",
            str(request_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert process.stdout is not None
    try:
        for number in (1, 2):
            body = json.dumps({"id": f"r{number}", "install": {f"kubectl-seccomp/p{number}.json": PROFILE}})
            # as the kubelet does: a new file swapped in
            (tmp_path / "request.tmp").write_text(body)
            (tmp_path / "request.tmp").replace(request_file)
            line = process.stdout.readline()
            assert json.loads(line)["id"] == f"r{number}"
            assert (root / "kubectl-seccomp" / f"p{number}.json").read_text() == PROFILE
        time.sleep(0.3)  # the same request again is not answered again
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=10)
        assert rest == ""
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
