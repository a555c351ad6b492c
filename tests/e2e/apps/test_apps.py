"""Real applications under recorded profiles: nginx, Redis, PostgreSQL, a JVM service, Node.js, etcd.

Each test deploys one application (image from tests/cluster/images.py), runs
its own client or benchmark once without a profile, records with
``kubectl seccomp record --exec CLIENT`` (which applies the profile), runs the
same client under the enforced profile, checks that a call the recording never
saw is refused with EPERM, and leaves the application running under the profile.
A second test per application, run after all six are enforced (so the soaks
overlap the other applications' tests), waits until it has run under the profile
for ``KSC_APPS_SOAK`` seconds (default 45: PostgreSQL's checkpointer and
autovacuum, Redis's background saves, the JVM's GC and JIT compiler get to run),
runs the client a third time and stops the pod. Every run must print the same
``RESULT`` lines, with no error; the pod must not have restarted and must stop
with the exit code it had without a profile.

The clients (clients/*.sh) run on this host, which reaches every pod IP; they
take the pod IPs from ``KUBECTL_SECCOMP_POD_IPS`` as ``--exec`` gives them.
With ``KSC_APPS_REPORT=DIR`` each test writes DIR/<app>.json (profile, timings,
client results) for docs/proven-apps.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from seccomp_helpers import cli_ok, fresh_namespace, profile_names, ready_pods, wait_settled

pytestmark = [pytest.mark.cluster, pytest.mark.apps]

CLIENTS = Path(__file__).resolve().parent / "clients"
SOAK = float(os.environ.get("KSC_APPS_SOAK", "45"))


@dataclass(frozen=True)
class App:
    name: str  # key of images.APP_IMAGES, also the Deployment's and container's name
    port: int
    client: str  # script under clients/
    client_env: dict[str, str] = field(default_factory=dict)
    container: dict[str, Any] = field(default_factory=dict)  # merged into the container spec


APPS = [
    App("nginx", 8080, "http.sh"),
    App("redis", 6379, "redis.sh"),
    App(
        "postgres",
        5432,
        "postgres.sh",
        container={"securityContext": {"runAsUser": 999, "runAsGroup": 999}},
    ),
    App("jvm", 8080, "http.sh"),
    App("node", 8080, "http.sh"),
    App(
        "etcd",
        2379,
        "etcd.sh",
        container={
            "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "ETCD_ADVERTISE_CLIENT_URLS", "value": "http://$(POD_IP):2379"},
            ]
        },
    ),
]


def deployment(app: App, image: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": app.name,
        "image": image,
        "imagePullPolicy": "Never",
        # a generous timeout: a loaded 2-core machine can take more than the default 1 s to accept
        "readinessProbe": {"tcpSocket": {"port": app.port}, "periodSeconds": 2, "timeoutSeconds": 5},
        **app.container,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app.name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app.name}},
            "template": {
                "metadata": {"labels": {"app": app.name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 5},
            },
        },
    }


@dataclass
class ClientRun:
    code: int
    results: list[str]
    output: str
    seconds: float


def client_command(app: App) -> str:
    env = " ".join(f"{k}={v}" for k, v in app.client_env.items())
    return f"{env} bash {CLIENTS / app.client}".strip()


def run_client(app: App, pod_ip: str, timeout: float = 300) -> ClientRun:
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", client_command(app)],
        env={**os.environ, "KUBECTL_SECCOMP_POD_IPS": pod_ip},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    results = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    return ClientRun(result.returncode, results, result.stderr + result.stdout, time.monotonic() - started)


def the_pod(kubectl: Any, namespace: str, app: App, timeout: float = 60) -> dict[str, Any]:
    """The app's one Ready pod. A finished rollout can still be followed by a failed readiness
    probe on a loaded machine (the cluster tests run in two lanes), so wait for it a while."""
    deadline = time.monotonic() + timeout
    while len(pods := ready_pods(kubectl, namespace, app.name)) != 1 and time.monotonic() < deadline:
        time.sleep(1)
    if len(pods) != 1:
        every = kubectl.json("get", "pods", "-n", namespace, "-l", f"app={app.name}")["items"]
        states = [
            (p["metadata"]["name"], p["status"].get("phase"), restarts(p), p["status"].get("conditions")) for p in every
        ]
        pytest.fail(f"{app.name}: {len(pods)} Ready pod(s) after {timeout:.0f}s, not 1: {states}")
    return pods[0]


def restarts(pod: dict[str, Any]) -> int:
    return sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses", []))


def pod_now(kubectl: Any, namespace: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "pod", name, "-n", namespace)  # type: ignore[no-any-return]


def denied_call(kubectl: Any, namespace: str, pod: str) -> str:
    """mkfifo (mknodat): no application here makes it, so the recording never saw it."""
    result = kubectl.run("exec", "-n", namespace, pod, "--", "/bin/busybox", "mkfifo", "/tmp/ksc-denied", check=False)
    return result.stdout + result.stderr


def stop_exit_code(kubectl: Any, namespace: str, pod: str, timeout: float = 120) -> int:
    """Delete ``pod`` (SIGTERM, then SIGKILL after the grace period) and return its container's exit code.

    A shutdown path that the profile breaks shows here: an app that cannot signal its own
    workers or write its final state hangs until SIGKILL (137) or exits with an error.
    """
    watch = subprocess.Popen(
        ["kubectl", f"--kubeconfig={kubectl.kubeconfig}", "get", "pod", pod, "-n", namespace, "-w", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    timer = threading.Timer(timeout, watch.kill)
    timer.start()
    kubectl.run("delete", "pod", pod, "-n", namespace, "--wait=false")
    decoder, buffer, code = json.JSONDecoder(), "", None
    try:
        assert watch.stdout is not None
        for line in watch.stdout:
            buffer += line
            try:
                obj, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue
            buffer = buffer.lstrip()[end:]
            for status in obj.get("status", {}).get("containerStatuses", []):
                terminated = (status.get("state") or {}).get("terminated")
                if terminated:
                    code = terminated["exitCode"]
            if code is not None:
                break
    finally:
        timer.cancel()
        watch.kill()
        watch.wait()
    assert code is not None, f"pod {pod}: no terminated state seen within {timeout}s"
    return code


def logs(kubectl: Any, namespace: str, pod: str) -> str:
    """The app's last log lines (also of a restarted container's previous run), for failure messages."""
    now = kubectl.run("logs", "-n", namespace, pod, "--tail=40", check=False)
    previous = kubectl.run("logs", "-n", namespace, pod, "--previous", "--tail=40", check=False)
    return f"--- log of {pod}:\n{now.stdout}{now.stderr}--- previous run:\n{previous.stdout}{previous.stderr}"


def report(app: App, data: dict[str, Any]) -> None:
    folder = os.environ.get("KSC_APPS_REPORT")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{app.name}.json").write_text(json.dumps(data, indent=2))


def update_report(app: App, data: dict[str, Any]) -> None:
    folder = os.environ.get("KSC_APPS_REPORT")
    if folder:
        path = Path(folder) / f"{app.name}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **data}, indent=2))


@dataclass
class Enforced:
    """An application left running under its profile by the first test, for the soak test."""

    namespace: str
    pod: str
    pod_ip: str
    since: float  # time.monotonic() when the enforced pod answered its client
    before: ClientRun
    stop_before: int


ENFORCED: dict[str, Enforced] = {}


@pytest.fixture(scope="module")
def app_namespaces(cluster: Any) -> Iterator[Callable[[str], str]]:
    """One namespace per application that outlives its first test (the soak test uses it);
    all deleted at the end of the module."""
    with contextlib.ExitStack() as stack:
        made: dict[str, str] = {}

        def get(app: str) -> str:
            if app not in made:
                made[app] = stack.enter_context(fresh_namespace(cluster.kubectl, f"app-{app}"))
            return made[app]

        yield get


@pytest.mark.parametrize("app", APPS, ids=[a.name for a in APPS])
def test_app_keeps_working_under_its_recorded_profile(
    cluster: Any, app_namespaces: Callable[[str], str], tmp_path: Path, app_image: Callable[[str], str], app: App
) -> None:
    kubectl = cluster.kubectl
    namespace = app_namespaces(app.name)
    kubectl.apply(deployment(app, app_image(app.name)), namespace)
    wait_settled(kubectl, namespace, app.name)

    # 1. the client without a profile: the reference results; how the app stops on SIGTERM
    first = the_pod(kubectl, namespace, app)
    before = run_client(app, first["status"]["podIP"])
    assert before.code == 0, before.output
    assert before.results, before.output
    stop_before = stop_exit_code(kubectl, namespace, first["metadata"]["name"])
    wait_settled(kubectl, namespace, app.name)

    # 2. record while the same client drives the app; the profile is applied
    started = time.monotonic()
    recorded = cli_ok(
        cluster.kubeconfig,
        "record",
        f"deploy/{app.name}",
        "-n",
        namespace,
        "--exec",
        client_command(app),
        "--timeout",
        "180s",
        cwd=tmp_path,
        timeout=600,
    )
    record_seconds = time.monotonic() - started
    assert "--exec command exited with code 0" in recorded.stderr, recorded.stderr
    profile = tmp_path / "profiles" / namespace / f"{app.name}-{app.name}.json"
    names = profile_names(profile)

    # 3. the same client under the enforced profile
    deployed = wait_settled(kubectl, namespace, app.name)
    container = deployed["spec"]["template"]["spec"]["containers"][0]
    applied = container["securityContext"]["seccompProfile"]
    # Profile files on the nodes are named by content: <name>-<container>-<first 10 hex of sha256>.json
    assert applied["type"] == "Localhost", applied
    localhost = applied["localhostProfile"]
    assert re.fullmatch(rf"kubectl-seccomp/{namespace}/{app.name}-{app.name}-[0-9a-f]{{10}}\.json", localhost), applied
    pod = the_pod(kubectl, namespace, app)
    pod_name, pod_ip = pod["metadata"]["name"], pod["status"]["podIP"]
    assert pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"] == localhost
    after = run_client(app, pod_ip)
    assert after.code == 0, after.output
    assert after.results == before.results, after.output
    denied = denied_call(kubectl, namespace, pod_name)
    assert "Operation not permitted" in denied, denied
    assert restarts(pod_now(kubectl, namespace, pod_name)) == 0

    ENFORCED[app.name] = Enforced(namespace, pod_name, pod_ip, time.monotonic(), before, stop_before)
    report(
        app,
        {
            "app": app.name,
            "image": container["image"],
            "kind": "Deployment",
            "client": client_command(app).replace(str(CLIENTS), "tests/e2e/apps/clients"),
            "profile_syscalls": sorted(names),
            "record_seconds": round(record_seconds, 1),
            "results_before": before.results,
            "results_after": after.results,
            "denied": denied.strip(),
        },
    )


# After every application is enforced: the soaks overlap the other applications' tests
# instead of adding up (six times 45 s).
@pytest.mark.parametrize("app", APPS, ids=[a.name for a in APPS])
def test_app_still_works_after_a_soak_under_its_profile(cluster: Any, app: App) -> None:
    kubectl = cluster.kubectl
    enforced = ENFORCED.get(app.name)
    if enforced is None:
        pytest.fail(f"{app.name} was not left under its profile: its test_app_keeps_working_... did not pass")
    namespace, pod_name = enforced.namespace, enforced.pod

    # 4. a while under the profile (periodic work), then the client a third time
    time.sleep(max(0.0, SOAK - (time.monotonic() - enforced.since)))
    later = run_client(app, enforced.pod_ip)
    soaked = pod_now(kubectl, namespace, pod_name)
    app_log = logs(kubectl, namespace, pod_name)
    update_report(
        app,
        {
            "results_later": later.results,
            "soak_seconds": SOAK,
            "restarts_later": restarts(soaked),
            "log": app_log,
        },
    )
    # 5. it stops as it did without a profile (signals to its workers, final writes)
    stop_later = stop_exit_code(kubectl, namespace, pod_name)
    update_report(app, {"stop_exit_before": enforced.stop_before, "stop_exit_later": stop_later})
    assert later.code == 0, later.output + app_log
    assert later.results == enforced.before.results, later.output + app_log
    assert restarts(soaked) == 0, app_log
    assert stop_later == enforced.stop_before, logs(kubectl, namespace, pod_name)
