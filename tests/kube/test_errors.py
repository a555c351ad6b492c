"""Library errors become our KubeError family, with verb, resource and namespace."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from kubectl_seccomp.kube.errors import Conflict, Forbidden, Invalid, NotFound, Unreachable, translate


def api_error(status: int, message: str) -> ApiException:
    error = ApiException(status=status, reason="x")
    error.body = json.dumps({"kind": "Status", "message": message}).encode()
    return error


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (404, NotFound, "deployments.apps 'web' not found in namespace shop"),
        (
            403,
            Forbidden,
            'forbidden: cannot patch deployments.apps in namespace shop (User "bob" cannot patch',
        ),
        (409, Conflict, "conflict on patch deployments.apps 'web'"),
        (422, Invalid, "the API server rejected patch deployments.apps 'web'"),
    ],
)
def test_api_answers(status: int, kind: type, text: str) -> None:
    error = translate(
        api_error(status, 'User "bob" cannot patch resource "deployments"'),
        verb="patch",
        resource="deployments.apps",
        namespace="shop",
        name="web",
    )
    assert isinstance(error, kind)
    assert text in error.message


def test_forbidden_has_the_rbac_hint() -> None:
    error = translate(api_error(403, "no"), verb="list", resource="nodes")
    assert error.message.startswith("forbidden: cannot list nodes (cluster-wide)")
    assert error.hint is not None and "docs/rbac.md" in error.hint


def test_pod_security_refusal_says_so() -> None:
    error = translate(
        api_error(403, 'pods "x" is forbidden: violates PodSecurity "baseline:latest"'),
        verb="create",
        resource="pods",
        namespace="kubectl-seccomp",
    )
    assert "admission refused" in error.message
    assert error.hint is not None and "privileged" in error.hint


def test_connection_errors_are_unreachable() -> None:
    cause = MaxRetryError(None, "/api", NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    error = translate(cause, verb="get", resource="deployments.apps")
    assert isinstance(error, Unreachable)
    assert "cannot reach the Kubernetes API server to get deployments.apps" in error.message
