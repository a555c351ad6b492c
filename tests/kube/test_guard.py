"""The node guard's affinity merge and labels (pure), and apply/rollback with it on the fake cluster."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from kubectl_seccomp.kube import guard
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.workflows._common import SilentReporter
from kubectl_seccomp.workflows.apply import ApplyOptions, apply
from kubectl_seccomp.workflows.rollback import rollback
from tests.kube.fake import FakeKube, web_deployment

NS = "shop"
OS = {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
ZONE = {"key": "zone", "operator": "In", "values": ["a"]}
HOST = {"key": "metadata.name", "operator": "In", "values": ["n1"]}


def required(*terms: Any) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def test_label_keys_are_valid_label_names() -> None:
    key = guard.label_key("kubectl-seccomp/shop/web-web-0123456789.json")
    prefix, name = key.split("/")
    assert prefix == "profiles.kubectl-seccomp.io"
    assert len(name) == 16 and all(c in "0123456789abcdef" for c in name)
    assert guard.label_key("kubectl-seccomp/shop/web-web-0123456789.json") != guard.label_key("kubectl-seccomp/x.json")


def test_the_guard_goes_into_every_term_and_keeps_the_rest() -> None:
    own = {
        **required({"matchExpressions": [OS]}, {"matchExpressions": [ZONE], "matchFields": [HOST]}),
        "podAntiAffinity": {"x": 1},
    }
    own["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = [{"weight": 1}]
    ours = {"key": "profiles.kubectl-seccomp.io/aa", "operator": "Exists"}
    result = guard.guarded_affinity(own, ["profiles.kubectl-seccomp.io/aa"])
    assert result is not None
    terms = result["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [OS, ours]},
        {"matchExpressions": [ZONE, ours], "matchFields": [HOST]},
    ]
    assert result["podAntiAffinity"] == {"x": 1}
    assert result["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 1}]
    assert guard.guarded_affinity(result, []) == own  # removing it gives the template's own back


def test_a_template_without_affinity_gets_one_term_and_loses_it_again() -> None:
    result = guard.guarded_affinity(None, ["profiles.kubectl-seccomp.io/aa", "profiles.kubectl-seccomp.io/bb"])
    assert result == required(
        {
            "matchExpressions": [
                {"key": "profiles.kubectl-seccomp.io/aa", "operator": "Exists"},
                {"key": "profiles.kubectl-seccomp.io/bb", "operator": "Exists"},
            ]
        }
    )
    assert guard.guarded_affinity(result, []) is None


def test_a_new_profile_replaces_the_old_guard() -> None:
    first = guard.guarded_affinity(required({"matchExpressions": [OS]}), ["profiles.kubectl-seccomp.io/old"])
    second = guard.guarded_affinity(first, ["profiles.kubectl-seccomp.io/new"])
    assert second == required(
        {"matchExpressions": [OS, {"key": "profiles.kubectl-seccomp.io/new", "operator": "Exists"}]}
    )


def _profile(tmp_path: Path) -> str:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}))
    return str(path)


def test_apply_labels_the_nodes_and_rollback_removes_the_term(tmp_path: Path) -> None:
    kube = FakeKube()
    manifest = web_deployment(replicas=1)
    manifest["spec"]["template"]["spec"]["affinity"] = required({"matchExpressions": [OS]})
    original = copy.deepcopy(kube.add_deployment(NS, manifest))
    options = ApplyOptions(NS, "web", _profile(tmp_path), node=NodeSettings(pod_timeout=5), timeout=5)
    result = apply(kube, options, SilentReporter())
    key = guard.label_key(result.profiles["web"])
    assert result.guard == (key,)
    assert all(node["metadata"]["labels"][key] == "present" for node in kube.nodes)
    template = kube.deployments[(NS, "web")]["spec"]["template"]
    assert template["spec"]["affinity"] == required({"matchExpressions": [OS, {"key": key, "operator": "Exists"}]})
    rollback(kube, namespace=NS, name="web", timeout=5, reporter=SilentReporter())
    assert kube.deployments[(NS, "web")]["spec"]["template"] == original["spec"]["template"]


def test_no_node_guard_labels_nothing_and_keeps_the_affinity(tmp_path: Path) -> None:
    kube = FakeKube()
    original = copy.deepcopy(kube.add_deployment(NS, web_deployment(replicas=1)))
    options = ApplyOptions(NS, "web", _profile(tmp_path), node=NodeSettings(pod_timeout=5), timeout=5, node_guard=False)
    result = apply(kube, options, SilentReporter())
    assert result.guard == ()
    assert not any(guard.is_guard_key(k) for node in kube.nodes for k in node["metadata"].get("labels") or {})
    assert "affinity" not in kube.deployments[(NS, "web")]["spec"]["template"]["spec"]
    assert "affinity" not in original["spec"]["template"]["spec"]


def test_status_shows_the_guard_and_the_pods_it_keeps_pending(tmp_path: Path) -> None:
    from kubectl_seccomp.workflows.status import status

    kube = FakeKube()
    kube.add_deployment(NS, web_deployment(replicas=1))
    options = ApplyOptions(NS, "web", _profile(tmp_path), node=NodeSettings(pod_timeout=5), timeout=5)
    apply(kube, options, SilentReporter())
    pod = next(p for (ns, _), p in kube.pods.items() if ns == NS)
    pod["status"]["phase"] = "Pending"
    pod["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
        }
    ]
    report = status(
        kube, namespace=NS, name="web", settings=NodeSettings(), check_nodes=False, reporter=SilentReporter()
    )
    (row,) = report.rows
    assert row.guarded and row.pending_for_profile == 1
    assert row.as_dict()["pendingForProfile"] == 1


def test_orphans_are_counted_and_removed_after_the_workload_went(tmp_path: Path) -> None:
    from kubectl_seccomp.kube.node_pods import ROLE_LABEL
    from kubectl_seccomp.workflows.cleanup import cleanup_orphans
    from kubectl_seccomp.workflows.status import status

    kube = FakeKube()
    kube.add_deployment(NS, web_deployment(replicas=1))
    options = ApplyOptions(NS, "web", _profile(tmp_path), node=NodeSettings(pod_timeout=5), timeout=5)
    path = apply(kube, options, SilentReporter()).profiles["web"]
    on_nodes = {node["metadata"]["name"]: [path] for node in kube.nodes}

    def listing(pod: Any) -> tuple[str, str]:
        if pod["metadata"]["labels"][ROLE_LABEL] == "list":
            return ("Succeeded", json.dumps(on_nodes[pod["spec"]["nodeName"]]))
        return ("Succeeded", "")

    kube.node_output = listing
    settings = NodeSettings(pod_timeout=5)
    kept = status(kube, namespace=None, name=None, settings=settings, check_nodes=True, reporter=SilentReporter())
    assert (kept.orphan_files, kept.orphan_labels) == (0, 0)

    kube.delete_object("Deployment", NS, "web")  # as when its namespace is deleted
    for key in [k for k in kube.pods if k[0] == NS]:
        del kube.pods[key]
    report = status(kube, namespace=None, name=None, settings=settings, check_nodes=True, reporter=SilentReporter())
    assert (report.orphan_files, report.orphan_labels) == (len(kube.nodes), len(kube.nodes))

    kube.node_commands.clear()
    result = cleanup_orphans(kube, settings=settings, reporter=SilentReporter())
    assert result.files_removed == on_nodes
    assert result.labels_removed == {name: [guard.label_key(path)] for name in on_nodes}
    assert not any(guard.is_guard_key(k) for node in kube.nodes for k in node["metadata"].get("labels") or {})
    removals = [(node, " ".join(cmd)) for node, cmd in kube.node_commands if " remove " in " ".join(cmd)]
    assert sorted(node for node, _ in removals) == sorted(on_nodes)
    assert all(path in command for _, command in removals)


def test_every_kind_gets_the_guard_where_its_pod_spec_is() -> None:
    from tests.kube.fake import json_patch

    spec = {"containers": [{"name": "c", "image": "i"}], "affinity": required({"matchExpressions": [OS]})}
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": copy.deepcopy(spec)}}}},
    }
    key = "profiles.kubectl-seccomp.io/aa"
    patched = json_patch(cronjob, guard.affinity_ops(cronjob, [key]))
    terms = patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [OS, {"key": key, "operator": "Exists"}]}]
    assert json_patch(patched, guard.affinity_ops(patched, [])) == cronjob
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    job = {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}}
    assert guard.guarded_manifest(pod, [key])["spec"]["affinity"] == guard.guarded_affinity(None, [key])
    assert guard.guarded_manifest(job, [key])["spec"]["template"]["spec"]["affinity"] == guard.guarded_affinity(
        None, [key]
    )
    assert "affinity" not in pod["spec"]  # a copy
