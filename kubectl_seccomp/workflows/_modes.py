"""What the workflows that install profiles share about profile modes: a
runtime that refuses seccomp flags, said plainly.

Debian's runc 1.1.5 refuses any profile with ``flags`` ("seccomp flags are not
yet supported by runc"); containers then fail to start, the rollout fails and
is rolled back. The error then names the cause and the way out instead of
leaving the user to read runc's message in the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kubectl_seccomp.kube.errors import RolloutFailed
from kubectl_seccomp.profile import Profile

# What runtimes say when they refuse a profile's flags (runc 1.1: "seccomp flags are not yet supported by runc").
FLAG_REFUSALS = ("seccomp flags are not", "flags are not supported", "unknown seccomp flag")

FLAGS_HINT = (
    "this runtime cannot log denials; apply without --log-denials (and use --mode complain to see what the "
    "profile would deny), or run the pods on a runtime that takes seccomp flags (runc >= 1.2, crun) "
    "through a RuntimeClass"
)


def refuses_flags(texts: Iterable[str]) -> bool:
    """Whether error or event texts show a runtime refusing seccomp flags."""
    return any(marker in text for text in texts for marker in FLAG_REFUSALS)


@contextmanager
def flag_refusal_explained(profiles: Iterable[Profile]) -> Iterator[None]:
    """Turn a rollout that failed because the runtime refuses flags into an error that says so."""
    flagged = any(profile.flags for profile in profiles)
    try:
        yield
    except RolloutFailed as error:
        if flagged and refuses_flags((error.message, *error.evidence)):
            raise RolloutFailed(
                f"{error.message}; the node's runtime refuses seccomp flags (SECCOMP_FILTER_FLAG_LOG)",
                hint=FLAGS_HINT,
                evidence=error.evidence,
            ) from error
        raise
