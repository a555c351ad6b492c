"""What the user points a cluster command at, parsed the way ``kubectl get`` reads it.

``deploy/web``, ``Deployment/web``, ``deployments.apps/web``, ``sts/db``,
``ds/agent``, ``job/backup``, ``cj/nightly``, ``po/solo``; or a kind alone
together with ``-l SELECTOR``. Pure: no API call, so an unknown kind is a
usage error before we connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from kubectl_seccomp.errors import UsageError

DEPLOYMENT = "Deployment"
STATEFULSET = "StatefulSet"
DAEMONSET = "DaemonSet"
JOB = "Job"
CRONJOB = "CronJob"
POD = "Pod"
REPLICASET = "ReplicaSet"  # accepted as a target only to be refused with its Deployment's name

KINDS = (DEPLOYMENT, STATEFULSET, DAEMONSET, JOB, CRONJOB, POD)

# kind -> (resource, group, short name): what kubectl accepts for it.
_NAMES = {
    DEPLOYMENT: ("deployments", "apps", "deploy"),
    STATEFULSET: ("statefulsets", "apps", "sts"),
    DAEMONSET: ("daemonsets", "apps", "ds"),
    JOB: ("jobs", "batch", None),
    CRONJOB: ("cronjobs", "batch", "cj"),
    POD: ("pods", "", "po"),
    REPLICASET: ("replicasets", "apps", "rs"),
}


def object_name(kind: str, name: str) -> str:
    """``kind.group/name``, as ``kubectl get -o name`` prints it (``deployment.apps/web``, ``pod/web-1``)."""
    group = _NAMES[kind][1] if kind in _NAMES else ""
    return f"{kind.lower()}{'.' + group if group else ''}/{name}"


def _spellings() -> dict[str, str]:
    table: dict[str, str] = {}
    for kind, (plural, group, short) in _NAMES.items():
        names = [kind.lower(), plural] + ([short] if short else [])
        for name in names:
            table[name] = kind
            if group:
                table[f"{name}.{group}"] = kind
    return table


SPELLINGS = _spellings()


def short_name(kind: str) -> str:
    """``deploy`` for Deployment: what our hints write."""
    return _NAMES[kind][2] or kind.lower()


def resource(kind: str) -> str:
    """``deployments.apps`` for Deployment (RBAC and error messages use it)."""
    plural, group, _ = _NAMES[kind]
    return f"{plural}.{group}" if group else plural


@dataclass(frozen=True)
class Target:
    """One kind and either a name or a label selector."""

    kind: str
    name: Optional[str] = None
    selector: Optional[str] = None

    @property
    def ref(self) -> str:
        """``deploy/web`` (or ``deploy -l app=web``), for messages."""
        if self.name is not None:
            return f"{short_name(self.kind)}/{self.name}"
        return f"{short_name(self.kind)} -l {self.selector}"


def parse_kind(text: str) -> str:
    kind = SPELLINGS.get(text.strip().lower())
    if kind is None:
        raise UsageError(
            f"unknown kind {text!r}",
            hint="use deploy, sts, ds, job, cj or po (also their kubectl names, e.g. deployments.apps)",
        )
    return kind


def parse_target(target: str, selector: Optional[str] = None) -> Target:
    """``KIND/NAME``, or ``KIND`` with a ``-l`` selector."""
    kind_text, sep, name = target.partition("/")
    if selector is not None:
        if sep:
            raise UsageError(f"give either {target} or -l {selector}, not both", hint="write KIND -l SELECTOR")
        if not selector.strip():
            raise UsageError("-l needs a label selector", hint="for example -l app=web")
        return Target(parse_kind(kind_text), selector=selector.strip())
    if not sep or not name or "/" in name:
        raise UsageError(
            f"target {target!r} is not KIND/NAME",
            hint="write the workload as KIND/NAME (deploy/web, sts/db, ds/agent, job/x, cj/x, po/x), "
            "or KIND -l SELECTOR",
        )
    return Target(parse_kind(kind_text), name=name)
