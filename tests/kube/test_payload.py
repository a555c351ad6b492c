"""Verified payloads: the check a node pod runs before using its ConfigMap,
run here with the real ``sh`` and ``python3`` on files laid out like the
kubelet's ConfigMap mount; and how the CLI turns a refusal into an error."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube.errors import PayloadTampered
from kubectl_seccomp.kube.node_pods import PAYLOAD_DIR
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.kube.payload import CONFIGMAP_DIR, TAMPERED_EXIT, payload_of, tampered, verified
from tests.kube.fake import FakeKube

AGENT = b"PK\x03\x04 not really a zipapp"


def _mount(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    source, dest = tmp_path / "configmap", tmp_path / "verified"
    source.mkdir()
    dest.mkdir()
    for key, data in files.items():
        (source / key).write_bytes(data)
    return source, dest


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_an_untouched_payload_runs_from_the_verified_copy(tmp_path: Path) -> None:
    payload = payload_of("kubectl-seccomp-r1", {"agent.pyz": base64.b64encode(AGENT).decode()}, {"f0.json": "{}"})
    source, dest = _mount(tmp_path, {"agent.pyz": AGENT, "f0.json": b"{}"})
    result = _run(
        verified(["sh", "-c", 'cat "$0"/f0.json; echo " $1"', str(dest), "arg"], payload, str(dest), str(source))
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "{} arg\n"
    assert (dest / "agent.pyz").read_bytes() == AGENT


@pytest.mark.parametrize("key", ["agent.pyz", "f0.json"])
def test_an_edited_key_is_refused_before_anything_runs(tmp_path: Path, key: str) -> None:
    payload = payload_of("kubectl-seccomp-r1", {"agent.pyz": base64.b64encode(AGENT).decode()}, {"f0.json": "{}"})
    files = {"agent.pyz": AGENT, "f0.json": b"{}"}
    files[key] = b"import os; os.system('evil')"
    source, dest = _mount(tmp_path, files)
    marker = tmp_path / "ran"
    result = _run(verified(["touch", str(marker)], payload, str(dest), str(source)))
    assert result.returncode == TAMPERED_EXIT
    assert not marker.exists()
    assert not (dest / key).exists()
    report = tampered(result.stdout)
    assert report is not None
    assert (report.configmap, report.key) == ("kubectl-seccomp-r1", key)
    assert report.found != report.expected


def test_a_missing_key_is_refused(tmp_path: Path) -> None:
    payload = payload_of("cm", {"agent.pyz": base64.b64encode(AGENT).decode()}, {})
    source, dest = _mount(tmp_path, {})
    result = _run(verified(["true"], payload, str(dest), str(source)))
    assert result.returncode == TAMPERED_EXIT
    report = tampered(result.stdout)
    assert report is not None and report.found == "missing"


def test_node_pods_mount_the_configmap_apart_and_carry_the_digests(tmp_path: Path) -> None:
    kube = FakeKube()
    settings = NodeSettings(pod_timeout=5)
    node_ops.ensure_namespace(kube, settings.namespace)
    payload = node_ops.create_payload(kube, settings, "r1", AGENT, {"f0.json": "{}"})
    node_ops.run_on_nodes(kube, settings, role="list", run_id="r1", configmap=payload, commands={"node-a": ["true"]})
    node, command = kube.node_commands[-1]
    assert node == "node-a"
    script = " ".join(command)
    for key, digest in payload.digests:
        assert f"{key}={digest}" in script
    assert CONFIGMAP_DIR in script and PAYLOAD_DIR in script


def test_a_refusing_node_pod_is_a_tampered_payload_naming_the_configmap() -> None:
    kube = FakeKube()
    settings = NodeSettings(pod_timeout=5)
    node_ops.ensure_namespace(kube, settings.namespace)
    line = json.dumps(
        {
            "event": "payload-tampered",
            "configmap": "kubectl-seccomp-r1-i",
            "key": "agent.pyz",
            "expected": "a" * 64,
            "found": "b" * 64,
        }
    )

    def refuse(pod: Any) -> tuple[str, str]:
        return ("Failed", line + "\n")

    kube.node_output = refuse
    with pytest.raises(PayloadTampered) as caught:
        node_ops.install_profiles(kube, settings, run_id="r1", agent=AGENT, nodes=["node-a"], profiles={"p.json": "{}"})
    assert "ConfigMap kubectl-seccomp/kubectl-seccomp-r1-i" in caught.value.message
    assert "agent.pyz" in caught.value.message
    assert caught.value.exit_code != 0
