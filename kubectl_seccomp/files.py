"""The user's files as the offline commands read and write them.

Writes are atomic: the text goes to a temporary file in the same directory,
which then replaces the target, so a failed write (a full disk, ``ulimit -f``)
leaves the old file as it was. Reads of small files (profiles) are capped, so
``/dev/urandom`` or a huge file stops early with one line. ``-`` means standard
input, which can be read once per command. Every problem is an
:class:`~kubectl_seccomp.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from kubectl_seccomp.errors import InputError, UsageError

STDIN = "-"
STDIN_NAME = "standard input"


def display_name(path: str) -> str:
    return STDIN_NAME if path == STDIN else path


def check_stdin_once(paths: Iterable[str], flag: str) -> None:
    """Refuse ``-`` given more than once: standard input can be read only once."""
    if sum(1 for path in paths if path == STDIN) > 1:
        raise UsageError(f"{flag} '-' (standard input) is given more than once; it can be read only once")


def read_capped(path: str, limit: int, what: str, error_type: type[InputError] = InputError) -> bytes:
    """The bytes of ``path`` (``-``: standard input), refusing more than ``limit``."""
    name = display_name(path)
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
    except FileNotFoundError as error:
        raise error_type(f"{name}: no such file") from error
    except IsADirectoryError as error:
        raise error_type(f"{name}: is a directory, not {what}") from error
    except PermissionError as error:
        raise error_type(f"{name}: permission denied") from error
    except OSError as error:
        raise error_type(f"{name}: cannot read: {error.strerror or error}") from error
    if len(data) > limit:
        raise error_type(f"{name}: more than {limit // (1 << 20)} MiB, too big to be {what}")
    return data


def refuse_same_file(inputs: Iterable[str], output: Path) -> None:
    """Refuse an output that is one of the inputs (also through a symlink or a hard link)."""
    try:
        out = output.stat()
    except OSError:
        return  # does not exist yet: cannot be an input
    for path in inputs:
        if path == STDIN:
            continue
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(path), out):
                raise UsageError(f"{output} is also an input ({path}); writing it would destroy it")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step; on failure the old file stays intact.

    A path that exists and is not a regular file (``/dev/stdout``, a FIFO) is
    written in place: replacing it would put a regular file where it was.
    """
    data = text.encode("utf-8")
    temporary = None
    name = path
    try:
        if path.exists() and not path.is_file():  # /dev/stdout, a FIFO: not ours to replace
            with path.open("wb") as stream:
                stream.write(data)
            return
        if path.is_symlink():  # replace the file it points to, not the link
            path = Path(os.path.realpath(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        raise InputError(f"{name}: cannot write: {_reason(error)}") from error
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def write_stdout(text: str) -> None:
    """Write to standard output; a failure (``> /dev/full``) is one line, not a traceback at exit."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        # Nothing more can go out: drop what is buffered so the exit does not try again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise InputError(f"standard output: cannot write: {_reason(error)}") from error


def _reason(error: OSError) -> str:
    if error.errno == errno.EFBIG:
        return "file too large (a file size limit, ulimit -f?)"
    return error.strerror or str(error)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
