"""record and privileged containers, and a container that traced nothing, on the in-memory cluster.

The same on the real cluster: tests/e2e/test_record_refusals.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_seccomp.errors import NothingTraced, UsageError
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.workflows.record import Recorder, check_traced
from tests.kube.fake import FakeKube, web_deployment
from tests.record.test_workflow import NS, Reporter, emit_on_log_rollout, kube, options

__all__ = ["kube"]  # the fixture, used by name


def privileged(manifest: dict, *names: str) -> dict:  # type: ignore[type-arg]
    for container in manifest["spec"]["template"]["spec"]["containers"]:
        if container["name"] in names:
            container["securityContext"] = {"privileged": True}
    return manifest


def test_a_workload_whose_selected_containers_are_all_privileged_is_refused_untouched(
    kube: FakeKube, tmp_path: Path
) -> None:
    kube.add_deployment(NS, privileged(web_deployment(extra_containers=("sidecar",)), "web"))
    before = json.dumps(kube.deployments[(NS, "web")], sort_keys=True)
    with pytest.raises(UsageError) as caught:
        Recorder(kube, options(tmp_path, containers=("web",)), Reporter(), agent=b"PK").run()
    assert caught.value.message == (
        "deployment web: every container selected (web) is privileged, and Kubernetes runs privileged "
        "containers without seccomp: nothing could be recorded"
    )
    assert caught.value.exit_code == 2
    assert json.dumps(kube.deployments[(NS, "web")], sort_keys=True) == before
    assert not kube.node_commands and not list(tmp_path.iterdir())


def test_the_other_containers_of_a_pod_with_a_privileged_one_are_recorded(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, privileged(web_deployment(replicas=1, extra_containers=("sidecar",)), "sidecar"))
    emit_on_log_rollout(kube, {"web": ["read"], "sidecar": ["nanosleep"]})
    reporter = Reporter()
    result = Recorder(kube, options(tmp_path), reporter, agent=b"PK").run()
    assert [c.container for c in result.containers] == ["web"]
    assert "container sidecar runs privileged, without seccomp: not recorded" in reporter.warnings
    assert not (tmp_path / NS / "web-sidecar.json").exists()
    settings = {i.name: i.seccomp for i in wl.containers(kube.deployments[(NS, "web")])}
    assert settings["sidecar"] is None and settings["web"] is not None  # only web got a profile
    check_traced([result])  # every container recorded traced something: no error


def test_a_container_that_traced_nothing_fails_the_command(kube: FakeKube, tmp_path: Path) -> None:
    kube.add_deployment(NS, web_deployment(replicas=1, extra_containers=("idle",)))
    emit_on_log_rollout(kube, {"web": ["read"]})
    result = Recorder(kube, options(tmp_path), Reporter(), agent=b"PK").run()
    assert (tmp_path / NS / "web-web.json").exists()  # the others are written (and applied) all the same
    with pytest.raises(NothingTraced) as caught:
        check_traced([result])
    assert caught.value.exit_code == 11
    assert caught.value.message == "no syscall was traced for 1 container(s) (web/idle): no profile for them"
