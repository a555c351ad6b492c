"""Where a node's audit records come from, behind one small interface.

A :class:`Source` hands out the lines that are available *now* (never blocks)
and, when it has one, a file descriptor the follow loop can ``select`` on. Each
line is in a form :class:`kubectl_seccomp.audit.AuditScanner` reads; parsing is
not done here. Three implementations, one per way the kernel delivers records
(DESIGN.md section 2):

* :class:`NetlinkSource`: the audit netlink multicast group (AUDIT_NLGRP_READLOG)
  with a 64 MiB forced receive buffer. Needs CAP_AUDIT_READ and the host network
  namespace, no auditd; loses nothing in practice. Payloads are prefixed with
  ``type=NNNN msg=`` so they read like audit.log lines.
* :class:`AuditLogSource`: auditd's audit.log, followed by name across rotation
  (a file, or a pipe/FIFO/stdin when given one).
* :class:`KmsgSource`: ``/dev/kmsg`` from its end. Lossy under load; the scanner
  counts serial gaps and ``callbacks suppressed``; ring overruns (``EPIPE``) are
  counted here as ``overruns``.

:func:`open_source` picks one (``auto``: netlink if it works, else audit.log if
auditd is writing it, else kmsg) and raises :class:`AgentError` when none works.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import errno
import os
import socket
import stat
import struct
from typing import Any, Optional

from kubectl_seccomp.errors import AgentError

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1
SO_RCVBUFFORCE = 33
RCVBUF_BYTES = 64 * 1024 * 1024
AUDIT_FIRST_TYPE = 1000  # below: netlink control messages (NLMSG_DONE, errors, ...)
AUDIT_SECCOMP = 1326
_NLMSGHDR = struct.Struct("=IHHII")
_READ_CHUNK = 1 << 20
_SECCOMP_TYPE = struct.pack("=H", AUDIT_SECCOMP)
_SECCOMP_PREFIX = b"type=%d msg=" % AUDIT_SECCOMP
_NLMSG_LEN = struct.Struct("=I")
# Lines one read_lines call returns at most (about 3 MiB): what the agent holds at once,
# so it stays near its 32Mi memory request however far behind it is.
# More waits in the socket buffer, which holds fewer records (each is a kernel skb).
MAX_LINES = 8192
_MAX_DATAGRAM = 9216  # an audit message is at most MAX_AUDIT_MESSAGE_LENGTH (8970) bytes + header

DEFAULT_AUDIT_LOG = "/var/log/audit/audit.log"
DEFAULT_KMSG = "/dev/kmsg"


class Source(abc.ABC):
    """A stream of audit lines; :meth:`read_lines` returns what is there now (up to :data:`MAX_LINES`)."""

    name: str = "source"

    def __init__(self) -> None:
        self.overruns = 0  # times the kernel said our buffer overflowed

    def fileno(self) -> Optional[int]:
        """A descriptor that becomes readable when lines arrive, or None to poll."""
        return None

    @abc.abstractmethod
    def read_lines(self) -> list[bytes]:
        """Every complete line available now, in order; [] when there is none."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the descriptor; idempotent."""


def set_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for a ``size``-byte receive buffer: beyond the sysctl limit with CAP_NET_ADMIN, up to it without."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:  # no CAP_NET_ADMIN: take what the sysctl allows
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class NetlinkSource(Source):
    """The kernel's audit multicast: every audit message, as it is emitted."""

    name = "netlink"

    def __init__(self, rcvbuf: int = RCVBUF_BYTES) -> None:
        super().__init__()
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
        except OSError as error:
            raise AgentError(f"cannot open an audit netlink socket: {error}") from error
        try:
            set_receive_buffer(sock, rcvbuf)
            sock.bind((0, AUDIT_NLGRP_READLOG))
        except OSError as error:
            sock.close()
            raise AgentError(
                f"cannot join the audit multicast group: {error}",
                hint="the agent needs CAP_AUDIT_READ (and CAP_NET_ADMIN for the big buffer)",
            ) from error
        sock.setblocking(False)
        self._sock: Optional[socket.socket] = sock
        self._batch = _BatchReceiver.create(sock.fileno())

    def fileno(self) -> Optional[int]:
        return self._sock.fileno() if self._sock is not None else None

    @classmethod
    def adopt(cls, sock: socket.socket) -> NetlinkSource:
        """A source reading an already bound netlink socket (benchmarks and tests, without root)."""
        source = cls.__new__(cls)
        Source.__init__(source)
        sock.setblocking(False)
        source._sock = sock
        source._batch = _BatchReceiver.create(sock.fileno())
        return source

    def read_lines(self) -> list[bytes]:
        sock = self._sock
        if sock is None:
            return []
        if self._batch is not None:
            return self._read_batches(self._batch)
        lines: list[bytes] = []
        append = lines.append
        recv = sock.recv
        # One recv per audit record (the kernel sends each as its own
        # datagram), so the usual case -- one SECCOMP message in the datagram
        # -- is a header check and one concatenation. At most MAX_LINES a
        # call: when the agent falls behind, the backlog waits in the socket's
        # (kernel) buffer, not in our memory.
        while len(lines) < MAX_LINES:
            try:
                data = recv(_MAX_DATAGRAM)
            except BlockingIOError:
                return lines
            except OSError as error:
                self._read_error(error)
                continue
            if data[4:6] == _SECCOMP_TYPE and _NLMSG_LEN.unpack_from(data)[0] == len(data):
                append(_SECCOMP_PREFIX + data[16:].rstrip(b"\0\n"))
            else:
                lines.extend(split_netlink(data))
        return lines

    def _read_batches(self, batch: _BatchReceiver) -> list[bytes]:
        """The agent's hot loop: up to _BATCH datagrams per system call (recvmmsg).

        Usually every datagram of a batch is one whole SECCOMP message: then
        the lines are made by one comprehension over the batch's lengths.
        """
        lines: list[bytes] = []
        view, size = batch.view, _MAX_DATAGRAM
        while len(lines) < MAX_LINES:
            try:
                count = batch.receive()
            except BlockingIOError:
                return lines
            except OSError as error:
                self._read_error(error)
                continue
            lengths = batch.lengths[_MSG_LEN_WORD::_MMSGHDR_WORDS][:count].tolist()
            types = batch.halves[2 :: size // 2][:count].tolist()
            if types.count(AUDIT_SECCOMP) == count and batch.words[:: size // 4][:count].tolist() == lengths:
                lines += [
                    _SECCOMP_PREFIX + view[start + 16 : start + length].tobytes().rstrip(b"\0\n")
                    for start, length in zip(range(0, count * size, size), lengths)
                ]
            else:
                for start, length in zip(range(0, count * size, size), lengths):
                    lines.extend(split_netlink(view[start : start + length]))
            if count < _BATCH:
                return lines
        return lines

    def _read_error(self, error: OSError) -> None:
        if error.errno == errno.ENOBUFS:  # the kernel dropped messages for us
            self.overruns += 1
            return
        raise AgentError(f"reading the audit netlink socket: {error}") from error

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def split_netlink(data: memoryview | bytes) -> list[bytes]:
    """The audit messages of one netlink datagram, as ``type=N msg=...`` lines."""
    lines: list[bytes] = []
    offset, size = 0, len(data)
    while offset + _NLMSGHDR.size <= size:
        length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break  # garbage: stop rather than loop
        end = min(offset + length, size)
        if msg_type >= AUDIT_FIRST_TYPE:
            payload = bytes(data[offset + _NLMSGHDR.size : end]).rstrip(b"\0\n")
            lines.append(b"type=%d msg=%s" % (msg_type, payload))
        offset += (length + 3) & ~3
    return lines


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_Iovec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint32)]


_BATCH = 256  # datagrams per recvmmsg: 2.3 MiB of buffers
_MSG_DONTWAIT = 0x40
_MMSGHDR_WORDS = ctypes.sizeof(_Mmsghdr) // 4
_MSG_LEN_WORD = _Mmsghdr.len.offset // 4


class _BatchReceiver:
    """recvmmsg(2) through ctypes: up to _BATCH datagrams per system call.

    The kernel sends every audit record as its own datagram; one ``recv``
    each made the system call and its Python wrapping almost half of the
    agent's work per record. The datagrams land in one buffer, _MAX_DATAGRAM
    bytes apart; ``lengths`` (the mmsghdr array as 32-bit words) gives each
    one's size, ``words`` and ``halves`` read netlink headers without
    ``struct``. Absent (None from :meth:`create`) where libc has no recvmmsg.
    """

    def __init__(self, fd: int, recvmmsg: Any) -> None:
        self._fd = fd
        self._recvmmsg = recvmmsg
        self._data = bytearray(_BATCH * _MAX_DATAGRAM)
        self._headers = bytearray(_BATCH * ctypes.sizeof(_Mmsghdr))
        self._iovecs = (_Iovec * _BATCH)()
        base = ctypes.addressof((ctypes.c_char * len(self._data)).from_buffer(self._data))
        messages = (_Mmsghdr * _BATCH).from_buffer(self._headers)
        for index in range(_BATCH):
            self._iovecs[index].base = base + index * _MAX_DATAGRAM
            self._iovecs[index].length = _MAX_DATAGRAM
            messages[index].hdr.iov = ctypes.pointer(self._iovecs[index])
            messages[index].hdr.iovlen = 1
        self._messages = messages
        self.view = memoryview(self._data)
        self.words = self.view.cast("I")
        self.halves = self.view.cast("H")
        self.lengths = memoryview(self._headers).cast("I")

    @classmethod
    def create(cls, fd: int) -> Optional[_BatchReceiver]:
        try:
            recvmmsg = ctypes.CDLL(None, use_errno=True).recvmmsg
        except (OSError, AttributeError):
            return None
        recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
        recvmmsg.restype = ctypes.c_int
        return cls(fd, recvmmsg)

    def receive(self) -> int:
        """Datagrams received now (at least one); BlockingIOError when there are none."""
        count = self._recvmmsg(self._fd, self._messages, _BATCH, _MSG_DONTWAIT, None)
        if count < 0:
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise BlockingIOError(code, os.strerror(code))
            raise OSError(code, os.strerror(code))
        return int(count)


class _LineBuffer:
    """Cuts a byte stream into lines, keeping the unfinished tail."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._tail + chunk if self._tail else chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        return lines

    def flush(self) -> list[bytes]:
        tail, self._tail = self._tail, b""
        return [tail] if tail else []


class AuditLogSource(Source):
    """auditd's log, followed by name: new lines only, across rotation.

    Starts at the end of the current file (old lines were written before we
    were asked to record). When the name points at a new file (``audit.log`` was
    renamed to ``audit.log.1`` and recreated) the old file is read to its end
    first, then any file rotated after it, then the new one from its start, so
    nothing written around a rotation is lost or read twice. A truncated file
    is read again from 0.
    A FIFO or ``-`` (stdin) is read as a stream.
    """

    name = "auditlog"

    def __init__(self, path: str = DEFAULT_AUDIT_LOG, from_start: bool = False) -> None:
        super().__init__()
        self.path = path
        self._lines = _LineBuffer()
        self._eof = False
        try:
            if path == "-":
                self._fd = os.dup(0)
                self._stream = True
            else:
                self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                self._stream = not stat.S_ISREG(os.fstat(self._fd).st_mode)
        except OSError as error:
            raise AgentError(f"cannot read {path}: {error.strerror}") from error
        if self._stream:
            os.set_blocking(self._fd, False)
        elif not from_start:
            os.lseek(self._fd, 0, os.SEEK_END)

    def fileno(self) -> Optional[int]:
        # A regular file is always "readable": poll it instead.
        return self._fd if self._stream and not self._eof else None

    @property
    def at_eof(self) -> bool:
        """A stream (pipe, stdin) whose writer has gone away."""
        return self._eof

    def read_lines(self) -> list[bytes]:
        if self._fd < 0:
            return []
        lines = self._read_available()
        if not self._stream and self._rotated():
            lines.extend(self._follow_rotation())
        return lines

    def _follow_rotation(self) -> list[bytes]:
        """Finish the old file, read the files rotated since (oldest first), open the new one.

        auditd may rotate several times between two polls under a burst
        (``audit.log`` -> ``.1`` -> ``.2``...): the files between the one we
        had open and the current ``audit.log`` are read whole, found by name
        and told apart by inode, so none is skipped or read twice.
        """
        lines = self._read_available()  # what was written before the rename
        lines.extend(self._lines.flush())
        old = os.fstat(self._fd)
        seen = {(old.st_dev, old.st_ino)}
        names = [f"{self.path}.{n}" for n in range(self._rotated_index(old) - 1, 0, -1)]
        fds: list[int] = []
        for name in [*names, self.path]:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) in seen:
                os.close(fd)
                continue
            seen.add((info.st_dev, info.st_ino))
            fds.append(fd)
        if not fds or os.path.samestat(os.fstat(fds[-1]), old):
            for fd in fds:
                os.close(fd)
            return lines  # the new audit.log is not there yet: try again next poll
        os.close(self._fd)
        for fd in fds[:-1]:
            self._fd = fd
            lines.extend(self._read_available())
            lines.extend(self._lines.flush())
            os.close(fd)
        self._fd = fds[-1]
        lines.extend(self._read_available())
        return lines

    def _rotated_index(self, old: os.stat_result) -> int:
        """n such that ``audit.log.n`` is the file we had open (1 if not found)."""
        for n in range(1, 1000):
            try:
                info = os.stat(f"{self.path}.{n}")
            except OSError:
                return 1
            if os.path.samestat(info, old):
                return n
        return 1

    def _read_available(self) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            try:
                chunk = os.read(self._fd, _READ_CHUNK)
            except BlockingIOError:
                return lines
            if not chunk:
                if self._stream:
                    self._eof = True
                    lines.extend(self._lines.flush())
                return lines
            lines.extend(self._lines.feed(chunk))

    def _rotated(self) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False  # between rename and create: keep reading the old file
        mine = os.fstat(self._fd)
        if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
            return True
        if now.st_size < os.lseek(self._fd, 0, os.SEEK_CUR):  # truncated in place
            os.lseek(self._fd, 0, os.SEEK_SET)
        return False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class KmsgSource(Source):
    """The kernel ring buffer through ``/dev/kmsg``, from its current end.

    Each read returns one printk record (``prio,seq,usec,flags;text`` and
    continuation lines starting with a space, which we drop). ``EPIPE`` means
    the ring wrapped past our position: counted in ``overruns``, and reading
    goes on from the oldest record still there.
    """

    name = "kmsg"

    def __init__(self, path: str = DEFAULT_KMSG) -> None:
        super().__init__()
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            raise AgentError(f"cannot read {path}: {error.strerror}") from error
        with contextlib.suppress(OSError):  # a FIFO standing in for /dev/kmsg: read it all
            os.lseek(self._fd, 0, os.SEEK_END)
        self._lines = _LineBuffer()

    def fileno(self) -> Optional[int]:
        return self._fd if self._fd >= 0 else None

    def read_lines(self) -> list[bytes]:
        if self._fd < 0:
            return []
        lines: list[bytes] = []
        while len(lines) < MAX_LINES:
            try:
                chunk = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                self.overruns += 1
                continue
            if not chunk:
                break
            if not chunk.endswith(b"\n"):  # /dev/kmsg gives whole records
                chunk += b"\n"
            lines.extend(line for line in self._lines.feed(chunk) if not line.startswith(b" "))
        return lines

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def auditd_running(proc: str = "/proc") -> bool:
    """True when a process named auditd exists (host PID namespace needed)."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm"), "rb") as handle:
                if handle.read().strip() == b"auditd":
                    return True
        except OSError:
            continue
    return False


def _initial_process(proc: str) -> str:
    """A pid in the initial namespaces: kthreadd (pid 2, a kernel thread) when we see the host's
    pids, else pid 1. Pid 1 may be a supervisor whose /proc entry is closed to us."""
    try:
        with open(os.path.join(proc, "2/comm"), encoding="utf-8") as handle:
            if handle.read().strip() == "kthreadd":
                return "2"
    except OSError:
        pass
    return "1"


def in_host_network_namespace(proc: str = "/proc") -> bool:
    """True when we share the initial network namespace (audit multicast works only there)."""
    try:
        reference = os.readlink(os.path.join(proc, _initial_process(proc), "ns/net"))
        return os.readlink(os.path.join(proc, "thread-self/ns/net")) == reference
    except OSError:
        return True  # cannot tell: let the socket decide


SOURCES = ("auto", "netlink", "auditlog", "kmsg")  # what --source takes, here and in the CLI


CLONE_NEWNET = 0x40000000


def enter_host_network_namespace(proc: str = "/proc") -> Optional[str]:
    """Move this thread into the initial network namespace; None when done (or already there), else why not.

    The kernel sends audit records to the multicast group, and process events
    to the proc connector, in the initial network namespace only: an agent in
    any other one binds both sockets without error and receives nothing. That
    is the case of a node that is itself a network namespace on a shared
    kernel (several nodes on one machine, like the test cluster's second
    node). With the host's pid namespace (the agent pod's ``hostPID``) and
    CAP_SYS_ADMIN (``privileged``), the kernel threads' namespace is the one
    the records go to. Call it before any thread starts: new threads inherit it.
    """
    if in_host_network_namespace(proc):
        return None
    pid = _initial_process(proc)
    try:
        fd = os.open(os.path.join(proc, pid, "ns/net"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        return f"cannot open the network namespace of pid {pid}: {error.strerror}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            return f"cannot enter the network namespace of pid {pid}: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(fd)
    return None


def open_source(kind: str, audit_log: str = DEFAULT_AUDIT_LOG, proc: str = "/proc") -> Source:
    """Open the source ``kind`` (auto, netlink, auditlog, kmsg)."""
    if kind == "netlink":
        return NetlinkSource()
    if kind == "auditlog":
        return AuditLogSource(audit_log)
    if kind == "kmsg":
        return KmsgSource()
    if kind != "auto":
        raise AgentError(f"unknown source {kind!r}")
    reasons: list[str] = []
    if in_host_network_namespace(proc):
        try:
            return NetlinkSource()
        except AgentError as error:
            reasons.append(f"netlink: {error.message}")
    else:
        reasons.append("netlink: not in the host network namespace")
    if auditd_running(proc) and os.path.exists(audit_log):
        try:
            return AuditLogSource(audit_log)
        except AgentError as error:
            reasons.append(f"auditlog: {error.message}")
    else:
        reasons.append(f"auditlog: auditd is not writing {audit_log}")
    try:
        return KmsgSource()
    except AgentError as error:
        reasons.append(f"kmsg: {error.message}")
    raise AgentError(
        "no audit source is usable (" + "; ".join(reasons) + ")",
        hint="run as root, or with CAP_AUDIT_READ and CAP_NET_ADMIN in the host network namespace",
    )
