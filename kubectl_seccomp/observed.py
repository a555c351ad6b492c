"""Recorded syscalls -> a profile: the one policy of ``record``, ``record-local``
and ``generate``.

- Which sightings a profile allows: ``LOG`` records (what ran under a log
  profile); calls that a filter denied (ERRNO, KILL, TRAP records) only with
  ``include_denied``, since the workload ran without them so far.
- Which sightings are the OCI runtime's, not the workload's: after the filter
  is loaded, runc's init (``runc:[2:INIT]``, and ``runc:[1:CHILD]`` before it)
  or crun keeps running in the container's process; what it calls goes to
  every container's profile (see :mod:`kubectl_seccomp.runtime_policy`).
- The profile: the observed calls plus those additions, deny by default.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubectl_seccomp import runtime_policy
from kubectl_seccomp.audit import Action
from kubectl_seccomp.profile import Profile

RUNTIME_COMMS = ("runc:[", "crun")

# A machine's architecture (as Kubernetes' node status or ``uname -m`` spells it)
# -> the syscall ABIs a process there may use: the native one and its compat
# ABI, as runtimes' default profiles list them. One table for the log profiles
# of ``record`` (per node) and ``record-local`` (this host).
PLATFORM_ARCHES: dict[str, tuple[str, ...]] = {
    "amd64": ("x86_64", "i386"),
    "x86_64": ("x86_64", "i386"),
    "arm64": ("aarch64", "arm"),
    "aarch64": ("aarch64", "arm"),
    "arm": ("arm",),
    "386": ("i386",),
    "ppc64le": ("ppc64le",),
    "s390x": ("s390x",),
    "riscv64": ("riscv64",),
}
Call = tuple[str, str]  # (arch, syscall name)


def is_runtime(comm: str) -> bool:
    """Whether a process name is the OCI runtime's, still running in the container under its filter."""
    return comm.startswith(RUNTIME_COMMS)


def is_denied(action: str) -> bool:
    """Whether an action name (``ERRNO``, ``LOG``, ...) stopped the call."""
    try:
        return Action[action].is_denial
    except KeyError:
        return False


def is_allowed(action: str, include_denied: bool) -> bool:
    """Whether a sighting with this action goes into the allow-list."""
    return action == Action.LOG.name or (include_denied and is_denied(action))


def profile_for(observed: Iterable[Call], runtime_calls: Iterable[Call], *, log_denials: bool) -> Profile:
    """The profile of one container: what it called, plus what the runtime and signals need."""
    calls = set(observed)
    extra = runtime_policy.additions(calls, runtime_calls)
    return Profile.from_observations(sorted(calls | extra), log_denials=log_denials)
