"""What the commands that talk to a cluster share besides their options (kubectl_seccomp.commands._options):
the node pods' defaults, reading durations and targets, and the one place that connects.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from kubectl_seccomp.errors import UsageError

# Defaults of the node pods' options (defined in _options).
DEFAULT_IMAGE = "docker.io/library/python:3.12-slim"
DEFAULT_AGENT_NAMESPACE = "kubectl-seccomp"
DEFAULT_SECCOMP_ROOT = "/var/lib/kubelet/seccomp"


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
