"""cgroup path -> container id, and the pid cache fed by process events."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from kubectl_seccomp.agent.attribution import Attributor, container_id_from_cgroup, parse_proc_events

A = "a2e82e9f7eac53520eb6ec5ac3598c091f0596bfa43c8c58a7a78df5edfb0610"
B = "132ca0c7b22570576f66d444f85bc6991970519ed19c52fdd389d24cdbd933c8"

CASES = [
    # seen here: podman, cgroupfs manager, cgroup v1 (one line per hierarchy) + unified
    (
        "podman cgroupfs v1",
        f"10:hugetlb:/libpod_parent/libpod-{B}\n4:memory:/libpod_parent/libpod-{B}\n0::/libpod_parent/libpod-{B}\n",
        B,
    ),
    # seen here: the test cluster's containerd (cgroupfs driver), nested under a kind-like node prefix
    (
        "containerd cgroupfs, node prefix",
        f"4:memory:/ksc-node2/kubepods/besteffort/pod372a1c30-c691-437c-b039-cd3b8a2605e9/{A}\n",
        A,
    ),
    ("containerd cgroupfs", f"0::/kubepods/besteffort/pod7a0995de-5207-4ed0-b266-a76c0fff1cd2/{A}\n", A),
    ("containerd cgroupfs guaranteed", f"0::/kubepods/pod7a0995de-5207-4ed0-b266-a76c0fff1cd2/{A}\n", A),
    (
        "containerd systemd v2",
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7a0995de_5207"
        f"_4ed0_b266_a76c0fff1cd2.slice/cri-containerd-{A}.scope\n",
        A,
    ),
    ("containerd systemd v1", "11:pids:/kubepods-burstable-pod7a0995de_5207.slice:cri-containerd:" + A + "\n", A),
    (
        "cri-o systemd",
        f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/crio-{A}.scope\n",
        A,
    ),
    ("cri-o cgroupfs", f"0::/kubepods/besteffort/pod1/crio-{A}\n", A),
    ("cri-o conmon is not the container", f"0::/kubepods.slice/crio-conmon-{A}.scope\n", None),
    ("docker systemd", f"0::/system.slice/docker-{A}.scope\n", A),
    ("docker cgroupfs v1", f"12:memory:/docker/{A}\n1:name=systemd:/docker/{A}\n", A),
    ("podman systemd", f"0::/machine.slice/libpod-{B}.scope\n", B),
    ("podman systemd split", f"0::/machine.slice/libpod-{B}.scope/container\n", B),
    ("podman conmon", f"0::/machine.slice/libpod-conmon-{B}.scope\n", None),
    ("host process", "0::/user.slice/user-0.slice/session-1.scope\n", None),
    ("host v1, 32-hex is not an id", "4:memory:/process_api/af1faabf84867f6ac31e564ff189ff2b\n0::/\n", None),
    ("garbage", "not a cgroup file\n\x00\n", None),
    ("empty", "", None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_container_id_from_cgroup(text: str, expected: str) -> None:
    assert container_id_from_cgroup(text) == expected


def fake_proc(root: Path, pid: int, cgroup: str) -> None:
    (root / str(pid)).mkdir(parents=True, exist_ok=True)
    (root / str(pid) / "cgroup").write_text(cgroup)


def test_live_pid_is_read_from_proc(tmp_path: Path) -> None:
    fake_proc(tmp_path, 10, f"0::/libpod_parent/libpod-{B}\n")
    attributor = Attributor(str(tmp_path))
    assert attributor.lookup(10) == B


def test_vanished_pid_without_events_is_counted(tmp_path: Path) -> None:
    attributor = Attributor(str(tmp_path))
    assert attributor.lookup(4242) is None
    assert attributor.vanished == 1


def test_fork_inherits_parent_container_and_survives_exit(tmp_path: Path) -> None:
    now = [100.0]
    fake_proc(tmp_path, 10, f"0::/libpod_parent/libpod-{B}\n")
    attributor = Attributor(str(tmp_path), grace=5.0, clock=lambda: now[0])
    attributor.on_event("fork", 11, 10)  # /bin/true: gone before its records are read
    attributor.on_event("exec", 11, 0)
    attributor.on_event("exit", 11, 0)
    assert attributor.lookup(11) == B
    now[0] += 10
    attributor.expire()
    assert attributor.lookup(11) is None


def test_exec_rereads_cgroup_after_runtime_moved_the_process(tmp_path: Path) -> None:
    fake_proc(tmp_path, 1, "0::/\n")
    fake_proc(tmp_path, 20, "0::/\n")
    attributor = Attributor(str(tmp_path))
    attributor.on_event("fork", 20, 1)
    fake_proc(tmp_path, 20, f"0::/kubepods/besteffort/pod1/{A}\n")  # runc moved its init
    attributor.on_event("exec", 20, 0)
    assert attributor.lookup(20) == A


def test_reused_pid_is_not_forgotten_by_the_old_exit(tmp_path: Path) -> None:
    now = [0.0]
    fake_proc(tmp_path, 10, f"0::/libpod_parent/libpod-{B}\n")
    fake_proc(tmp_path, 30, f"0::/docker/{A}\n")
    attributor = Attributor(str(tmp_path), grace=1.0, clock=lambda: now[0])
    attributor.on_event("fork", 11, 10)
    attributor.on_event("exit", 11, 0)
    attributor.on_event("fork", 11, 30)  # pid 11 reused at once
    now[0] += 5
    attributor.expire()
    os.remove(tmp_path / "10" / "cgroup")
    assert attributor.lookup(11) == A


def test_memory_is_bounded(tmp_path: Path) -> None:
    fake_proc(tmp_path, 10, f"0::/libpod_parent/libpod-{B}\n")
    attributor = Attributor(str(tmp_path), max_pids=100)
    for pid in range(1000, 2000):
        attributor.on_event("fork", pid, 10)
    assert len(attributor) <= 100
    assert attributor.lookup(1999) == B


def _nl(payload: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), 3, 0, 0, 0) + payload


def _cn(what: int, *pids: int) -> bytes:
    body = struct.pack("=IIQ", what, 0, 0) + struct.pack(f"={len(pids)}i", *pids)
    return struct.pack("=IIIIHH", 1, 1, 0, 0, len(body), 0) + body


def test_parse_proc_events() -> None:
    data = (
        _nl(_cn(1, 10, 10, 11, 11))
        + _nl(_cn(1, 10, 10, 12, 10))  # a process, then a thread
        + _nl(_cn(2, 11, 11))
        + _nl(_cn(0x80000000, 11, 11, 0, 17))
        + _nl(b"\x00" * 3)
    )
    events: list[tuple[str, int, int]] = []
    parse_proc_events(data, events)
    assert events == [("fork", 11, 10), ("exec", 11, 0), ("exit", 11, 0)]
