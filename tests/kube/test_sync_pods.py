"""The sync DaemonSet's manifests (pure) and the workflow that keeps them, on the fake API."""

from __future__ import annotations

import json

from kubectl_seccomp.kube import sync_pods as sp
from kubectl_seccomp.kube.guard import label_key
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.targets import DAEMONSET
from kubectl_seccomp.workflows._common import SilentReporter
from kubectl_seccomp.workflows.sync import remove_sync, sync_profiles
from tests.kube.fake import FakeKube

AGENT = b"PK not really a zipapp"
A = "kubectl-seccomp/shop/web/web-0123456789abcdef.json"
B = "kubectl-seccomp/shop/api/api-fedcba9876543210.json"
TEXT = '{"defaultAction": "SCMP_ACT_LOG"}'


def test_the_configmap_indexes_each_profile_with_its_key_and_node_label() -> None:
    body, payload = sp.sync_configmap("kubectl-seccomp", AGENT, {A: TEXT, B: TEXT})
    index = json.loads(body["data"][sp.INDEX_KEY])
    assert index[A] == {"key": sp.profile_key(A), "label": label_key(A)}
    assert body["data"][sp.profile_key(B)] == TEXT
    assert {key for key, _ in payload.digests} == {"agent.pyz", sp.INDEX_KEY, sp.profile_key(A), sp.profile_key(B)}
    assert sp.synced_profiles(body) == {A: TEXT, B: TEXT}
    assert sp.synced_profiles({"data": {sp.INDEX_KEY: "not json"}}) == {}


def test_the_daemonset_pod_runs_anywhere_with_the_seccomp_directory_as_its_only_host_access() -> None:
    _, payload = sp.sync_configmap("ns", AGENT, {A: TEXT})
    daemonset = sp.sync_daemonset(NodeSettings(namespace="ns", image="python:3.12"), payload)
    spec = daemonset["spec"]["template"]["spec"]
    assert "nodeName" not in spec and spec["restartPolicy"] == "Always"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert [v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v] == ["/var/lib/kubelet/seccomp"]
    assert not spec.get("hostPID") and not spec.get("hostNetwork")
    container = spec["containers"][0]
    assert not container["securityContext"].get("privileged")
    assert container["image"] == "python:3.12"
    assert spec["serviceAccountName"] == sp.SYNC_NAME and spec["automountServiceAccountToken"] is True
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in container["env"]
    script = " ".join(container["command"])
    for key, digest in payload.digests:  # the pod checks each key against its own spec
        assert f"{key}={digest}" in script
    assert daemonset["spec"]["selector"]["matchLabels"] == daemonset["spec"]["template"]["metadata"]["labels"]


def test_a_changed_profile_changes_the_template_and_the_same_one_does_not() -> None:
    settings = NodeSettings(namespace="ns")
    first = sp.sync_daemonset(settings, sp.sync_configmap("ns", AGENT, {A: TEXT})[1])
    same = sp.sync_daemonset(settings, sp.sync_configmap("ns", AGENT, {A: TEXT})[1])
    other = sp.sync_daemonset(settings, sp.sync_configmap("ns", AGENT, {A: TEXT.replace("LOG", "ERRNO")})[1])
    assert first == same
    assert first["spec"]["template"] != other["spec"]["template"]
    annotation = sp.PAYLOAD_ANNOTATION
    assert (
        first["spec"]["template"]["metadata"]["annotations"][annotation]
        != other["spec"]["template"]["metadata"]["annotations"][annotation]
    )


def test_the_service_account_may_patch_nodes_and_nothing_else() -> None:
    assert sp.cluster_role()["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]}]
    binding = sp.cluster_role_binding("ns")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sp.SYNC_NAME, "namespace": "ns"}]
    assert binding["roleRef"]["name"] == sp.cluster_role()["metadata"]["name"]


def test_sync_keeps_what_is_still_used_adds_the_new_and_cleanup_removes_it_all() -> None:
    api = FakeKube()
    settings = NodeSettings()
    api.put_support_object(
        "ConfigMap", settings.namespace, sp.sync_configmap(settings.namespace, AGENT, {A: TEXT, B: TEXT})[0]
    )
    # nothing refers to A or B in the fake cluster: both are dropped, the new one kept
    new = "kubectl-seccomp/shop/db/db-00112233aabbccdd.json"
    result = sync_profiles(api, settings, {new: TEXT}, timeout=30, reporter=SilentReporter())
    assert result.profiles == (new,) and set(result.dropped) == {A, B}
    configmap = api.get_support_object("ConfigMap", settings.namespace, sp.SYNC_NAME)
    assert sp.synced_profiles(configmap) == {new: TEXT}
    assert (
        api.get_object(DAEMONSET, settings.namespace, sp.SYNC_NAME)["spec"]["template"]["spec"]["serviceAccountName"]
        == sp.SYNC_NAME
    )
    assert api.get_support_object("ClusterRoleBinding", settings.namespace, sp.SYNC_NAME)
    assert remove_sync(api, settings, SilentReporter()) == 5
    assert remove_sync(api, settings, SilentReporter()) == 0


def test_a_sync_pod_that_refused_its_configmap_is_reported_as_tampered() -> None:
    import pytest

    from kubectl_seccomp.kube.errors import PayloadTampered
    from kubectl_seccomp.workflows.sync import _refuse_tampered

    api = FakeKube()
    settings = NodeSettings()
    line = json.dumps(
        {
            "event": "payload-tampered",
            "configmap": sp.SYNC_NAME,
            "key": "p-1.json",
            "expected": "a" * 64,
            "found": "b" * 64,
        }
    )
    api.pods[(settings.namespace, "sync-x")] = {
        "metadata": {"name": "sync-x", "namespace": settings.namespace, "labels": dict(sp.LABELS)},
        "spec": {"nodeName": "node-a"},
        "_log": line + "\n",
    }
    with pytest.raises(PayloadTampered, match=f"key p-1.json of ConfigMap {settings.namespace}/{sp.SYNC_NAME}"):
        _refuse_tampered(api, settings)
    api.pods[(settings.namespace, "sync-x")]["_log"] = "other trouble\n"
    _refuse_tampered(api, settings)  # nothing to say: the rollout's own error stands
