"""Which mode a container's seccomp runs in, from what the cluster shows.

The kubelet knows a Localhost profile only by its file name, so the name says
the mode of the profiles we install: ``<owner>-<container>-<hash>-complain.json``
for complain mode (``defaultAction: SCMP_ACT_LOG`` plus the allow rules),
``<owner>[-<kind>]-log.json`` for the recording's log-everything profile, and
``<owner>-<container>-<hash>.json`` for enforce mode. ``status`` shows these
modes; ``watch`` uses them to say what it can see.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from kubectl_seccomp.profile import COMPLAIN, ENFORCE, LOG, LOG_FLAG

RUNTIME_DEFAULT = "runtime-default"
UNCONFINED = "unconfined"
LOCALHOST = "localhost"  # a Localhost profile that is not ours: we cannot tell its mode by name
UNKNOWN = "unknown"  # unset, and the node's SeccompDefault could not be read
OURS = "kubectl-seccomp/"


def _document(content: str) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def mode_suffix(content: str) -> str:
    """``-complain`` for a profile text in complain mode, else nothing."""
    data = _document(content)
    return "-complain" if data.get("defaultAction") == "SCMP_ACT_LOG" and data.get("syscalls") else ""


def logs_denials(content: str) -> bool:
    """Whether a profile text asks the kernel to log denied calls (SECCOMP_FILTER_FLAG_LOG)."""
    return LOG_FLAG in (_document(content).get("flags") or [])


def mode_of_path(path: str) -> str:
    """The mode of one of our Localhost profiles by its name; :data:`LOCALHOST` for another's."""
    if not path.startswith(OURS):
        return LOCALHOST
    if path.endswith("-complain.json"):
        return COMPLAIN
    if path.endswith("-log.json"):
        return LOG
    return ENFORCE


def mode_of(setting: Optional[dict[str, Any]], seccomp_default: Optional[bool]) -> str:
    """The mode of an effective ``seccompProfile`` setting; unset depends on the kubelet's SeccompDefault."""
    kind = (setting or {}).get("type")
    if kind == "Localhost":
        return mode_of_path(str((setting or {}).get("localhostProfile") or ""))
    if kind == "RuntimeDefault":
        return RUNTIME_DEFAULT
    if kind == "Unconfined":
        return UNCONFINED
    if seccomp_default is None:
        return UNKNOWN
    return RUNTIME_DEFAULT if seccomp_default else UNCONFINED
