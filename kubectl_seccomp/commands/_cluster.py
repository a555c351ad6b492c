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
