"""Which container a host pid belongs to.

An audit record carries a host pid and nothing else about its origin (no
container id, no namespace, no cgroup). We read ``/proc/PID/cgroup`` and find the 64-hex
container id in the path the runtime gave the container's cgroup
(:func:`container_id_from_cgroup`, table-tested with real lines).

A process that exited before its records were read has no ``/proc`` entry
left: a shell script running ``/bin/true`` 50 times would lose every child.
So :class:`ProcConnector` listens to the kernel's proc connector (fork, exec
and exit events, as they happen) and :class:`Attributor` remembers each new
process's container at fork (inherited from its parent) and exec (read again:
the runtime moves its init process into the container's cgroup before it
execs), keeps it for a grace period after exit, and bounds its memory.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import re
import socket
import struct
import time
from typing import Callable, Optional

from kubectl_seccomp.agent.sources import set_receive_buffer
from kubectl_seccomp.errors import AgentError

# The last path component naming a container, whatever the runtime and driver:
#   cri-containerd-<id>.scope  crio-<id>.scope  docker-<id>.scope  libpod-<id>.scope  (systemd)
#   .../kubepods/<qos>/pod<uid>/<id>  /docker/<id>  /libpod_parent/libpod-<id>  crio-<id>  (cgroupfs)
#   ...slice:cri-containerd:<id>  (containerd's systemd path as cgroup v1 shows it)
# The runtime's monitor processes (crio-conmon-<id>, libpod-conmon-<id>) are not the container.
_CONTAINER_COMPONENT = re.compile(r"(?:^|[-:])(?<!conmon-)([0-9a-f]{64})(?:\.scope)?$")
CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")


def container_id_from_cgroup(text: str) -> Optional[str]:
    """The container id in the content of a ``/proc/PID/cgroup`` file, or None.

    Every line (cgroup v1 has one per hierarchy, v2 one ``0::`` line) is
    looked at; the deepest path component that names a container wins, so a
    container nested in a pod slice, or a kind node's container, is found.
    """
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for component in reversed(parts[2].split("/")):
            match = _CONTAINER_COMPONENT.search(component)
            if match is not None:
                return match.group(1)
    return None


def read_container_id(pid: int, proc: str = "/proc") -> tuple[bool, Optional[str]]:
    """(alive, container id) for ``pid``; alive is False when /proc has no such pid."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="replace") as handle:
            return True, container_id_from_cgroup(handle.read())
    except (FileNotFoundError, ProcessLookupError):
        return False, None
    except OSError:  # ESRCH while the process is being reaped, EACCES...
        return False, None


# -- the kernel proc connector ------------------------------------------------

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_EXIT = 0x80000000
NLMSG_DONE = 3
_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_TWO_PIDS = struct.Struct("=ii")
_FOUR_PIDS = struct.Struct("=iiii")


class ProcConnector:
    """Fork, exec and exit events from the kernel (CAP_NET_ADMIN, host PID namespace).

    :meth:`read_events` returns ``(kind, pid, parent)`` tuples, ``kind`` one of
    ``"fork"``, ``"exec"``, ``"exit"``, for whole processes only (threads are
    skipped: audit records name the thread group). ``overruns`` counts the
    times the socket buffer overflowed and events were lost.
    """

    def __init__(self, rcvbuf: int = 16 * 1024 * 1024) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as error:
            raise AgentError(f"cannot open the proc connector: {error}") from error
        try:
            set_receive_buffer(sock, rcvbuf)
            sock.bind((0, CN_IDX_PROC))
            self._send_op(sock, PROC_CN_MCAST_LISTEN)
        except OSError as error:
            sock.close()
            raise AgentError(f"cannot listen to the proc connector: {error}") from error
        sock.setblocking(False)
        self._sock: Optional[socket.socket] = sock
        self.overruns = 0

    @staticmethod
    def _send_op(sock: socket.socket, op: int) -> None:
        payload = struct.pack("=I", op)
        cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, os.getpid())
        sock.send(header + cn)

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def read_events(self) -> list[tuple[str, int, int]]:
        """Every event queued now; never blocks."""
        sock = self._sock
        events: list[tuple[str, int, int]] = []
        if sock is None:
            return events
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return events
            except OSError as error:
                if error.errno == 105:  # ENOBUFS: the kernel dropped events for us
                    self.overruns += 1
                    continue
                raise AgentError(f"reading the proc connector: {error}") from error
            parse_proc_events(data, events)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._send_op(self._sock, PROC_CN_MCAST_IGNORE)
            self._sock.close()
            self._sock = None


def parse_proc_events(data: bytes, into: list[tuple[str, int, int]]) -> None:
    """Append the process events of one proc connector datagram to ``into``."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length = _NLMSGHDR.unpack_from(data, offset)[0]
        if length < _NLMSGHDR.size:
            return
        body = offset + _NLMSGHDR.size + _CN_MSG.size
        event = body + _EVENT_HEAD.size
        if event <= len(data):
            what = _EVENT_HEAD.unpack_from(data, body)[0]
            if what == PROC_EVENT_FORK and event + _FOUR_PIDS.size <= len(data):
                _parent_pid, parent_tgid, child_pid, child_tgid = _FOUR_PIDS.unpack_from(data, event)
                if child_pid == child_tgid:
                    into.append(("fork", child_tgid, parent_tgid))
            elif what == PROC_EVENT_EXEC and event + _TWO_PIDS.size <= len(data):
                _pid, tgid = _TWO_PIDS.unpack_from(data, event)
                into.append(("exec", tgid, 0))
            elif what == PROC_EVENT_EXIT and event + _TWO_PIDS.size <= len(data):
                pid, tgid = _TWO_PIDS.unpack_from(data, event)
                if pid == tgid:
                    into.append(("exit", tgid, 0))
        offset += (length + 3) & ~3


# -- the cache ----------------------------------------------------------------


class Attributor:
    """host pid -> container id, from /proc and, when given, process events.

    ``lookup`` is on the hot path: a known pid in a container is one dict
    lookup. Unknown or host pids are read from /proc; a pid that has vanished
    is answered from what fork/exec events taught us. Exited pids are kept
    ``grace`` seconds (their records may still be queued), and at most
    ``max_pids`` entries are kept at all (oldest dropped first).
    """

    def __init__(
        self,
        proc: str = "/proc",
        connector: Optional[ProcConnector] = None,
        grace: float = 30.0,
        max_pids: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.proc = proc
        self.connector = connector
        self.grace = grace
        self.max_pids = max_pids
        self._clock = clock
        # pid -> (container or None, when /proc was last read for it; 0.0 if inherited)
        self._pids: dict[int, tuple[Optional[str], float]] = {}
        self._exited: collections.deque[tuple[float, int]] = collections.deque(maxlen=2 * max_pids)
        self._exit_at: dict[int, float] = {}
        self.vanished = 0  # lookups of a pid gone from /proc that no event told us about

    def __len__(self) -> int:
        return len(self._pids)

    def lookup(self, pid: int) -> Optional[str]:
        """The container of ``pid``, or None for a host process or an unknown one."""
        entry = self._pids.get(pid)
        if entry is not None and entry[0] is not None and (self.connector is not None or self._fresh(entry)):
            return entry[0]
        alive, container = read_container_id(pid, self.proc)
        if alive:
            self._remember(pid, container, self._clock())
            return container
        if self.connector is not None:
            self.poll_events()  # its fork may still be queued
            entry = self._pids.get(pid)
        if entry is None:
            self.vanished += 1
            return None
        return entry[0]

    def _fresh(self, entry: tuple[Optional[str], float]) -> bool:
        # Without process events a pid can be reused unseen: re-read after a second.
        return self._clock() - entry[1] < 1.0

    def poll_events(self) -> None:
        """Apply the process events queued on the connector."""
        if self.connector is not None:
            for kind, pid, parent in self.connector.read_events():
                self.on_event(kind, pid, parent)
            self.expire()

    def on_event(self, kind: str, pid: int, parent: int) -> None:
        """One fork/exec/exit event (also what tests call directly)."""
        if kind == "fork":
            parent_entry = self._pids.get(parent)
            if parent_entry is None:
                alive, container = read_container_id(parent, self.proc)
                parent_entry = (container, self._clock())
                if alive:
                    self._remember(parent, container, parent_entry[1])
            self._remember(pid, parent_entry[0], 0.0)
        elif kind == "exec":
            alive, container = read_container_id(pid, self.proc)
            if alive:
                self._remember(pid, container, self._clock())
        elif kind == "exit" and pid in self._pids:
            now = self._clock()
            self._exited.append((now, pid))
            self._exit_at[pid] = now

    def _remember(self, pid: int, container: Optional[str], checked: float) -> None:
        pids = self._pids
        pids.pop(pid, None)  # re-insert: dict order is age order
        self._exit_at.pop(pid, None)  # a new process with a reused pid
        pids[pid] = (container, checked)
        if len(pids) > self.max_pids:
            # Drop the oldest tenth at once: amortized O(1) per fork on a busy node.
            for old in list(itertools.islice(pids, len(pids) - self.max_pids + self.max_pids // 10 + 1)):
                del pids[old]

    def expire(self) -> None:
        """Forget pids that exited more than ``grace`` seconds ago."""
        exited = self._exited
        if not exited:
            return
        limit = self._clock() - self.grace
        while exited and exited[0][0] < limit:
            when, pid = exited.popleft()
            if self._exit_at.get(pid) == when:
                del self._exit_at[pid]
                self._pids.pop(pid, None)
        if len(self._exit_at) > self.max_pids:  # exits of pids already evicted
            self._exit_at = {pid: when for pid, when in self._exit_at.items() if pid in self._pids}
