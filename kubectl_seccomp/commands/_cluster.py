"""Options shared by the commands that talk to a cluster: kubectl's global flags,
where node pods run, output format; and the one place that connects.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import typer

from kubectl_seccomp.errors import UsageError

NAMESPACE = typer.Option(None, "--namespace", "-n", help="Namespace (default: the context's, else default).")
CONTEXT = typer.Option(None, "--context", help="kubeconfig context to use.")
KUBECONFIG = typer.Option(
    None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
)
OUTPUT = typer.Option("table", "--output", "-o", help="Output format: table, json or yaml.")
IMAGE = typer.Option(
    "docker.io/library/python:3.12-slim", "--image", help="Image of the node pods (needs python3)."
)
AGENT_NAMESPACE = typer.Option(
    "kubectl-seccomp", "--agent-namespace", help="Namespace of the node pods (created if missing)."
)
SECCOMP_ROOT = typer.Option(
    "/var/lib/kubelet/seccomp", "--seccomp-root", help="The kubelet's seccomp directory on the nodes."
)
SELECTOR = typer.Option(
    None, "--selector", "-l", help="With a kind alone (deploy -l app=web): every workload of it matching."
)
TARGET_HELP = "The workload: deploy/NAME, sts/NAME, ds/NAME, job/NAME, cj/NAME or po/NAME (or a kind with -l)."
TIMEOUT = typer.Option(
    "5m", "--timeout", help="How long a rollout may take before we roll back (e.g. 90s, 5m)."
)

MODE_HELP = (
    "enforce: deny what the profile does not allow (EPERM); complain: allow it and log it "
    "(SCMP_ACT_LOG; `kubectl seccomp watch` shows it)."
)


def mode(text: Optional[str]) -> Optional[str]:
    """A checked ``--mode``; None stays None."""
    if text is not None and text not in ("enforce", "complain"):
        raise UsageError(f"--mode {text!r} is not a mode", hint="use --mode enforce or --mode complain")
    return text


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def duration(text: Optional[str], flag: str) -> Optional[float]:
    """Seconds of ``90``, ``90s``, ``1.5m``, ``2h``; None stays None."""
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"{flag} {text!r} is not a duration", hint="write it like 30s, 5m or 1h")
    value = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    if value <= 0:
        raise UsageError(f"{flag} must be more than 0")
    return value


def connect(kubeconfig: Optional[str], context: Optional[str], namespace: Optional[str]) -> tuple[Any, Any]:
    """``(api, resolved config)``; imports the Kubernetes client only now."""
    from kubectl_seccomp.kube.api import connect as kube_connect
    from kubectl_seccomp.kube.config import ConnectionOptions

    return kube_connect(ConnectionOptions(kubeconfig=kubeconfig, context=context, namespace=namespace))


def target(text: str, selector: Optional[str]) -> Any:
    """The parsed target: a usage error for an unknown kind, before any connection."""
    from kubectl_seccomp.targets import parse_target

    return parse_target(text, selector)


def node_settings(image: str, agent_namespace: str, seccomp_root: str) -> Any:
    from kubectl_seccomp.kube.nodes import NodeSettings

    return NodeSettings(namespace=agent_namespace, image=image, seccomp_root=seccomp_root)
