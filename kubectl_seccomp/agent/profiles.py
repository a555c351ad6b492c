"""Install and remove seccomp profile files under a root, safely.

The kubelet resolves ``localhostProfile`` relative to its seccomp directory,
``/var/lib/kubelet/seccomp`` by default (``--seccomp-root``). The agent writes there as root, from a name the user
chose, so a name must never reach outside the root: absolute names, ``..``
components and symlinked directories below the root are refused with an
:class:`AgentError`. Files are written to a temporary file in the target
directory, flushed, then renamed over the target, so the kubelet never reads a
half-written profile.
"""

from __future__ import annotations

import json
import os
import stat

from kubectl_seccomp.errors import AgentError

DEFAULT_ROOT = "/var/lib/kubelet/seccomp"


def _components(name: str) -> list[str]:
    if not name or "\0" in name:
        raise AgentError(f"invalid profile name {name!r}")
    if name.startswith("/"):
        raise AgentError(f"profile name {name!r} is absolute; give a path relative to the root")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise AgentError(f"profile name {name!r} would leave the root (empty, '.' or '..' component)")
    return parts


def _safe_dir(root: str, parts: list[str], create: bool) -> str:
    """The directory for ``parts`` under ``root``, refusing symlinks on the way."""
    path = os.path.realpath(root)  # the root itself may be a symlink; below it, none
    if create:
        os.makedirs(path, exist_ok=True)
    for part in parts:
        path = os.path.join(path, part)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if not create:
                raise AgentError(f"no such profile directory {path}") from None
            os.mkdir(path, 0o755)
            continue
        if stat.S_ISLNK(info.st_mode):
            raise AgentError(f"refusing to follow the symlink {path} below the profile root")
        if not stat.S_ISDIR(info.st_mode):
            raise AgentError(f"{path} is not a directory")
    return path


def install_profile(root: str, name: str, content: bytes) -> str:
    """Write ``content`` (a JSON object) as ``root/name`` atomically; return the path."""
    parts = _components(name)
    try:
        document = json.loads(content)
    except ValueError as error:
        raise AgentError(f"profile {name!r} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise AgentError(f"profile {name!r} is not a JSON object")
    try:
        directory = _safe_dir(root, parts[:-1], create=True)
        target = os.path.join(directory, parts[-1])
        if os.path.islink(target) or os.path.isdir(target):
            raise AgentError(f"refusing to replace {target}: not a regular file")
        temporary = os.path.join(directory, f".{parts[-1]}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, target)
        except BaseException:
            if os.path.lexists(temporary):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise AgentError(f"cannot install profile {name!r} under {root}: {error}") from error
    return target


def remove_profile(root: str, name: str) -> bool:
    """Remove ``root/name``; False when it was not there."""
    parts = _components(name)
    try:
        directory = _safe_dir(root, parts[:-1], create=False)
    except AgentError:
        if not os.path.lexists(os.path.join(root, *parts[:-1])):
            return False
        raise
    target = os.path.join(directory, parts[-1])
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        raise AgentError(f"refusing to remove {target}: it is a directory")
    try:
        os.unlink(target)
    except OSError as error:
        raise AgentError(f"cannot remove {target}: {error.strerror}") from error
    return True
