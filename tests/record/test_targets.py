"""Targets as kubectl names them: every kind, case-insensitive, with a group, or a kind and -l."""

from __future__ import annotations

import pytest

from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.targets import (
    CRONJOB,
    DAEMONSET,
    DEPLOYMENT,
    JOB,
    POD,
    REPLICASET,
    STATEFULSET,
    Target,
    parse_target,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("deploy/web", DEPLOYMENT),
        ("deployment/web", DEPLOYMENT),
        ("deployment.apps/web", DEPLOYMENT),
        ("Deployments/web", DEPLOYMENT),
        ("deployments.apps/web", DEPLOYMENT),
        ("sts/web", STATEFULSET),
        ("StatefulSet/web", STATEFULSET),
        ("statefulsets.apps/web", STATEFULSET),
        ("ds/web", DAEMONSET),
        ("daemonset/web", DAEMONSET),
        ("DS/web", DAEMONSET),
        ("job/web", JOB),
        ("jobs.batch/web", JOB),
        ("cj/web", CRONJOB),
        ("cronjob/web", CRONJOB),
        ("cronjobs.batch/web", CRONJOB),
        ("po/web", POD),
        ("pod/web", POD),
        ("pods/web", POD),
        ("rs/web", REPLICASET),  # parsed, to be refused with its Deployment's name
    ],
)
def test_every_kind_the_way_kubectl_writes_it(text: str, kind: str) -> None:
    assert parse_target(text) == Target(kind, name="web")


def test_a_kind_with_a_selector() -> None:
    assert parse_target("deploy", "app=web") == Target(DEPLOYMENT, selector="app=web")
    assert parse_target("sts", "tier in (db)").ref == "sts -l tier in (db)"


@pytest.mark.parametrize(
    ("text", "selector", "message"),
    [
        ("web", None, "KIND/NAME"),
        ("deploy/", None, "KIND/NAME"),
        ("deploy/a/b", None, "KIND/NAME"),
        ("svc/web", None, "unknown kind 'svc'"),
        ("replicationcontroller/web", None, "unknown kind"),
        ("svc", "app=x", "unknown kind"),
        ("deploy/web", "app=x", "not both"),
        ("deploy", " ", "needs a label selector"),
    ],
)
def test_refusals(text: str, selector: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_target(text, selector)
