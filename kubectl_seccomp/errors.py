"""The exception family of kubectl seccomp and the exit codes they map to.

Every failure a user can cause or meet (bad input, a cluster that says no, a
node that cannot be read) is a :class:`SeccompError` with a one-line message
and, where we know one, a hint. ``cli.py`` turns them into a message on stderr
and an exit code in one place; nothing else prints errors.
"""

from __future__ import annotations

from typing import Optional


class SeccompError(Exception):
    """Base of every error we expect and explain."""

    exit_code = 1

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SeccompError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = 2


class InputError(SeccompError):
    """A file or stream given to us cannot be read or is not what it should be."""


class AuditLogError(InputError):
    """An audit log cannot be read, or holds nothing usable."""


class ProfileError(InputError):
    """A seccomp profile is not JSON, not a profile, or not one we can use."""


class AgentError(SeccompError):
    """The node agent could not read audit records or manage profile files."""


class NothingTraced(SeccompError):
    """A recording ended without one syscall of a selected container: it has no profile.

    Its own exit code, so that a pipeline running ``record`` notices; the
    other containers' profiles are written (and applied) all the same.
    """

    exit_code = 11


class Interrupted(SeccompError):
    """The user pressed Ctrl-C; what we changed has been put back."""

    exit_code = 130
