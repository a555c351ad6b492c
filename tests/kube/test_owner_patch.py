"""owners.patch: a failed ``test`` operation is a conflict; any other refusal keeps its own message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube.errors import Conflict, Invalid
from tests.kube.fake import FakeKube, web_deployment

NS = "e2e-test-ns"  # a namespace whose name holds "test", as the e2e ones do


def stale_owner(kube: FakeKube) -> dict[str, Any]:
    kube.add_deployment(NS, web_deployment(replicas=1))
    owner = copy.deepcopy(kube.objects["Deployment"][(NS, "web")])
    owner["metadata"]["resourceVersion"] = "0"  # read before someone else changed it
    return owner


ADD_LABEL = [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_changed_object_is_a_conflict(dry_run: bool) -> None:
    kube = FakeKube()
    with pytest.raises(Conflict, match="changed while we were changing it"):
        owners.patch(kube, stale_owner(kube), ADD_LABEL, guard_version=True, dry_run=dry_run)


@pytest.mark.parametrize(
    "message",
    [
        "the API server rejected patch deployment web: the server rejected our request due to an error in our "
        "request",  # the API server's words for a failed JSON Patch test
        "the API server rejected patch deployment web: testing value /metadata/resourceVersion failed",
    ],
)
def test_the_api_servers_words_for_a_failed_test_are_a_conflict(message: str) -> None:
    kube = Refusing(message)
    with pytest.raises(Conflict):
        owners.patch(kube, stale_owner(kube), ADD_LABEL, guard_version=True)


def test_an_admission_refusal_keeps_its_message_even_with_test_in_it() -> None:
    message = (
        f"the API server rejected patch deployment {NS}/web: ValidatingAdmissionPolicy 'deny-test' denied request: "
        "no Localhost seccomp profiles"
    )
    kube = Refusing(message)
    with pytest.raises(Invalid, match="no Localhost seccomp profiles") as raised:
        owners.patch(kube, stale_owner(kube), ADD_LABEL, guard_version=True, dry_run=True)
    assert not isinstance(raised.value, Conflict)


class Refusing(FakeKube):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def patch_object(self, kind: str, namespace: str, name: str, patch: list[Any], *, dry_run: bool = False) -> Any:
        raise Invalid(self.message)
