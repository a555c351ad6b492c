"""Complain mode, watch, fold and promotion to enforce, on the real cluster.

An HTTP server is recorded under a test client and applied in complain mode;
a call the recording never saw (getpriority) runs in the pod and ``watch``
reports it within 3 s; ``watch --fold --apply`` adds it; after
``apply --mode enforce`` it still works and another unrecorded call (getsid)
fails with EPERM.
"""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from seccomp_helpers import (
    EXEC_REQUESTS,
    Running,
    cli,
    cli_ok,
    deploy,
    http_deployment,
    node_files,
    our_pods,
    profile_names,
    ready_pods,
    seccomp_settings,
    wait_settled,
)

pytestmark = pytest.mark.cluster

GETPRIORITY = "import os; print('prio', os.getpriority(os.PRIO_PROCESS, 0))"
GETSID = "import os\ntry:\n    os.getsid(0); print('getsid ok')\nexcept OSError as e:\n    print('errno', e.errno)"


def _lines(running: Running) -> queue.Queue[tuple[float, str]]:
    """Stdout lines of a background plugin run, with the time each arrived."""
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    stdout = running.process.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            lines.put((time.monotonic(), line))

    threading.Thread(target=read, daemon=True).start()
    return lines


def _exec(kubectl: Any, namespace: str, pod: str, code: str) -> str:
    result = kubectl.run("exec", "-n", namespace, pod, "-c", "web", "--", "python3", "-c", code, timeout=60)
    return str(result.stdout)


def _template_profile(kubectl: Any, namespace: str) -> str:
    settings = seccomp_settings(wait_settled(kubectl, namespace, "web"))["containers/web"]
    assert settings["type"] == "Localhost"
    return str(settings["localhostProfile"])


def test_complain_watch_fold_enforce(cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=1))

    # record under the test client, applied in complain mode
    recorded = cli_ok(
        cluster.kubeconfig,
        "record", "deploy/web", "-n", namespace, "--exec", EXEC_REQUESTS, "--mode", "complain",
        "--timeout", "120s",
        cwd=tmp_path,
    )  # fmt: skip
    assert "--exec command exited with code 0" in recorded.stderr
    profile = tmp_path / "profiles" / namespace / "web-web.json"
    assert "getpriority" not in profile_names(profile)
    assert "getsid" not in profile_names(profile)
    assert json.loads(profile.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"  # the file stays enforce
    complain_path = _template_profile(kubectl, namespace)
    assert complain_path.startswith(f"kubectl-seccomp/{namespace}/web-web-") and complain_path.endswith(
        "-complain.json"
    )
    installed = Path(cluster.nodes[0].seccomp_dir) / complain_path
    if not installed.exists():
        installed = Path(cluster.nodes[1].seccomp_dir) / complain_path
    complain_doc = json.loads(installed.read_text())
    assert complain_doc["defaultAction"] == "SCMP_ACT_LOG"
    assert set(complain_doc["syscalls"][0]["names"]) == profile_names(profile)

    status = json.loads(cli_ok(cluster.kubeconfig, "status", "deploy/web", "-n", namespace, "-o", "json",
                               cwd=tmp_path).stdout)  # fmt: skip
    assert [c["mode"] for c in status["containers"]] == ["complain"]

    # watch: an unrecorded call runs, and shows up within 3 s
    watcher = Running(
        cluster.kubeconfig,
        "watch", "deploy/web", "-n", namespace, "-o", "json", "--fold", str(profile), "--apply", "--timeout", "120s",
        cwd=tmp_path,
    )  # fmt: skip
    lines = _lines(watcher)
    watcher.wait_for("watching; Ctrl-C stops")
    pod = ready_pods(kubectl, namespace, "web")[0]["metadata"]["name"]
    output = _exec(kubectl, namespace, pod, GETPRIORITY)
    done = time.monotonic()
    assert "prio" in output  # complain mode: it ran
    seen = _watch_until(watcher, lines, "getpriority", done)
    assert seen["pod"] == pod and seen["container"] == "web" and seen["comm"].startswith("python")
    assert seen["action"] == "LOG" and seen["count"] >= 1 and seen["exe"].startswith("/")

    # --fold --apply: stop; the profile gains getpriority and the workload rolls onto it (complain still)
    watcher.signal(signal.SIGINT)
    code, _out, err = watcher.finish()
    assert code == 0, err
    assert "getpriority" in profile_names(profile)
    assert '+        "getpriority"' in err or '"getpriority"' in err  # the diff was printed
    folded_path = _template_profile(kubectl, namespace)
    assert folded_path != complain_path and folded_path.endswith("-complain.json")

    # promote to enforce: the folded call still works, another unrecorded one gets EPERM
    cli_ok(cluster.kubeconfig, "apply", "deploy/web", "-n", namespace, "-f", str(profile), "--mode", "enforce",
           "--timeout", "120s", cwd=tmp_path)  # fmt: skip
    enforce_path = _template_profile(kubectl, namespace)
    assert not enforce_path.endswith("-complain.json")
    pod = ready_pods(kubectl, namespace, "web")[0]["metadata"]["name"]
    assert "prio" in _exec(kubectl, namespace, pod, GETPRIORITY)
    assert "errno 1" in _exec(kubectl, namespace, pod, GETSID)
    status = json.loads(cli_ok(cluster.kubeconfig, "status", "deploy/web", "-n", namespace, "-o", "json",
                               cwd=tmp_path).stdout)  # fmt: skip
    assert [c["mode"] for c in status["containers"]] == ["enforce"]
    # watch on an enforce profile without SECCOMP_FILTER_FLAG_LOG says what it cannot see
    blind = cli_ok(cluster.kubeconfig, "watch", "deploy/web", "-n", namespace, "--duration", "2s", cwd=tmp_path)
    assert "enforce mode without SECCOMP_FILTER_FLAG_LOG" in blind.stderr and "--log-denials" in blind.stderr

    # nothing of watch's stays: no agent pods, no file other than the applied ones
    assert our_pods(kubectl) == []
    for files in node_files(cluster, namespace).values():
        assert not [f for f in files if f.endswith("-log.json")]


def _watch_until(watcher: Running, lines: queue.Queue[tuple[float, str]], syscall: str, since: float) -> Any:
    """The first JSON event of ``syscall``, reported within 3 s of ``since``."""
    while True:
        try:
            arrived, line = lines.get(timeout=max(0.1, since + 10 - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"watch reported no {syscall} within 10 s:\n{watcher.stderr()}")
        event = json.loads(line)
        if event["syscall"] == syscall:
            assert arrived - since <= 3.0, f"{syscall} reported {arrived - since:.1f}s after the call"
            return event


def test_log_denials_refused_by_runc_is_said_plainly(cluster: Any, namespace: str, tmp_path: Path) -> None:
    """Debian's runc 1.1 refuses seccomp flags: apply --log-denials rolls back and says why."""
    kubectl = cluster.kubectl
    deploy(kubectl, namespace, http_deployment("web", replicas=1))
    profile = tmp_path / "web.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                                   "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}))  # fmt: skip
    result = cli(cluster.kubeconfig, "apply", "deploy/web", "-n", namespace, "-f", str(profile), "--mode", "enforce",
                 "--log-denials", "--timeout", "90s", cwd=tmp_path)  # fmt: skip
    if "seccomp flags" not in result.stderr:
        pytest.skip(f"the default runtime did not refuse seccomp flags (a runc >= 1.2?): {result.stderr[-300:]}")
    assert result.returncode == 8, result.stderr
    assert "the node's runtime refuses seccomp flags" in result.stderr
    assert "hint:" in result.stderr and "crun" in result.stderr
    assert seccomp_settings(wait_settled(kubectl, namespace, "web"))["containers/web"] is None  # rolled back


def test_watch_reports_denials_on_crun(cluster: Any, namespace: str, tmp_path: Path) -> None:
    """A crun pod in enforce mode with --log-denials: watch reports the call that got EPERM."""
    kubectl = cluster.kubectl
    if kubectl.run("get", "runtimeclass", "crun", check=False).returncode != 0:
        pytest.skip("the cluster has no RuntimeClass crun (the harness's crun runtime handler is missing)")
    deploy(kubectl, namespace, http_deployment("web", replicas=1, extra={"runtimeClassName": "crun"}))
    # crun's exec runs under the container's filter and makes calls its start did not: record an exec too
    exec_too = (
        f"{EXEC_REQUESTS} && for pod in $KUBECTL_SECCOMP_PODS; do kubectl exec -n $KUBECTL_SECCOMP_NAMESPACE "
        "$pod -c web -- python3 -c 'import os' || exit 1; done"
    )
    cli_ok(cluster.kubeconfig, "record", "deploy/web", "-n", namespace, "--exec", exec_too, "--no-apply",
           "--timeout", "120s", cwd=tmp_path)  # fmt: skip
    profile = tmp_path / "profiles" / namespace / "web-web.json"
    assert "getsid" not in profile_names(profile)
    cli_ok(cluster.kubeconfig, "apply", "deploy/web", "-n", namespace, "-f", str(profile), "--mode", "enforce",
           "--log-denials", "--timeout", "120s", cwd=tmp_path)  # fmt: skip
    assert not _template_profile(kubectl, namespace).endswith("-complain.json")

    watcher = Running(cluster.kubeconfig, "watch", "deploy/web", "-n", namespace, "-o", "json", cwd=tmp_path)
    lines = _lines(watcher)
    watcher.wait_for("watching; Ctrl-C stops")
    assert "without SECCOMP_FILTER_FLAG_LOG" not in watcher.stderr()
    pod = ready_pods(kubectl, namespace, "web")[0]["metadata"]["name"]
    assert "errno 1" in _exec(kubectl, namespace, pod, GETSID)  # denied with EPERM
    event = _watch_until(watcher, lines, "getsid", time.monotonic())
    assert event["pod"] == pod and event["container"] == "web" and event["action"] == "ERRNO"
    assert event["comm"].startswith("python")
    watcher.signal(signal.SIGINT)
    code, _out, err = watcher.finish()
    assert code == 0, err
    assert our_pods(kubectl) == []
