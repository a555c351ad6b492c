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
NODE_GUARD = typer.Option(
    True,
    "--node-guard/--no-node-guard",
    help="Label the nodes holding each profile and require that label in the pod template, "
    "so no pod lands on a node without its profile (e.g. a node that joined later).",
)
SELECTOR = typer.Option(
    None, "--selector", "-l", help="With a kind alone (deploy -l app=web): every workload of it matching."
)
TARGET_HELP = "The workload: deploy/NAME, sts/NAME, ds/NAME, job/NAME, cj/NAME or po/NAME (or a kind with -l)."
TIMEOUT = typer.Option(
    "5m", "--timeout", help="How long a rollout may take before we roll back (e.g. 90s, 5m)."
)
REQUEST_TIMEOUT = typer.Option(
    None,
    "--request-timeout",
    help="How long to wait for the API server to answer each request (e.g. 30s, 1m; a bare number is "
    "seconds; 0: no limit). Default: 10s to connect, 60s for an answer.",
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


# Go's time.ParseDuration syntax (kubectl's): numbers with units, one after the
# other (1h30m, 1m30.5s, 250ms); a bare number is seconds, as kubectl takes it.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = 7 * 24 * 3600.0  # a week: anything longer is a typo, not a wait


def duration(text: Optional[str], flag: str) -> Optional[float]:
    """Seconds of a Go-style duration (``90s``, ``1h30m``, ``250ms``) or a bare number; None stays None."""
    if text is None:
        return None
    spelled = text.strip()
    if _DURATION.fullmatch(spelled):
        value = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(spelled))
    elif re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", spelled):
        value = float(spelled)
    else:
        raise UsageError(f"{flag} {text[:40]!r} is not a duration", hint="write it like 90s, 5m or 1h30m")
    if value <= 0:
        raise UsageError(f"{flag} must be more than 0")
    if value > MAX_DURATION:
        raise UsageError(f"{flag} {text[:40]!r} is more than {MAX_DURATION / 3600:.0f}h")
    return value


def request_timeout(text: Optional[str]) -> Optional[float]:
    """kubectl's ``--request-timeout``: a duration, a bare number of seconds, or 0 for no limit."""
    if text is not None and re.fullmatch(r"0+(?:\.0*)?(?:ns|us|µs|ms|s|m|h)?", text.strip()):
        return 0.0
    return duration(text, "--request-timeout")


def connect(
    kubeconfig: Optional[str], context: Optional[str], namespace: Optional[str], timeout: Optional[str] = None
) -> tuple[Any, Any]:
    """``(api, resolved config)``; imports the Kubernetes client only now. ``timeout``: ``--request-timeout``."""
    seconds = request_timeout(timeout)
    from kubectl_seccomp.kube.api import connect as kube_connect
    from kubectl_seccomp.kube.config import ConnectionOptions

    return kube_connect(
        ConnectionOptions(kubeconfig=kubeconfig, context=context, namespace=namespace, request_timeout=seconds)
    )


def target(text: str, selector: Optional[str]) -> Any:
    """The parsed target: a usage error for an unknown kind, before any connection."""
    from kubectl_seccomp.targets import parse_target

    return parse_target(text, selector)


# A namespace name is a DNS-1123 label (what the API server would refuse only
# after the workload is locked and pods are being created).
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def node_settings(image: str, agent_namespace: str, seccomp_root: str) -> Any:
    """The node pods' settings, each checked here, before the first API call (the nodes would refuse them late)."""
    if not _DNS_LABEL.fullmatch(agent_namespace):
        raise UsageError(
            f"--agent-namespace {agent_namespace[:70]!r} is not a namespace name",
            hint="at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        )
    if not seccomp_root.startswith("/") or "\0" in seccomp_root:
        raise UsageError(
            f"--seccomp-root {seccomp_root[:70]!r} is not an absolute path",
            hint="the kubelet's seccomp directory on the nodes, e.g. /var/lib/kubelet/seccomp",
        )
    if not image.strip() or any(c.isspace() or not c.isprintable() for c in image):
        raise UsageError(
            f"--image {image[:70]!r} is not an image reference",
            hint="e.g. docker.io/library/python:3.12-slim (any image with python3 >= 3.9)",
        )
    from kubectl_seccomp.kube.nodes import NodeSettings

    return NodeSettings(namespace=agent_namespace, image=image, seccomp_root=seccomp_root)


def source(text: str) -> str:
    """A checked ``--source`` (the node agent's audit source)."""
    from kubectl_seccomp.agent.sources import SOURCES

    if text not in SOURCES:
        raise UsageError(f"--source {text[:40]!r} is not an audit source", hint=f"use one of: {', '.join(SOURCES)}")
    return text
