"""Syscalls a recorded profile allows although the recording may not have seen them.

Shared by the cluster recording (``workflows/record.py``) and the host recording
(``local_record.py``), so the two cannot drift apart. Seen on this project's
VMs: without ``rt_sigreturn`` a runc container died of SIGSEGV one start in
three; runc's init, a Go program, runs under the container's filter and what
it calls depends on timing (GC, scheduler, preemption signals).
"""

from __future__ import annotations

from collections.abc import Iterable

# Returning from a signal handler and exiting happen at any time, even if not while we watched.
ALWAYS_ALLOWED: dict[str, tuple[str, ...]] = {
    "x86_64": ("rt_sigreturn", "exit", "exit_group"),
    "i386": ("rt_sigreturn", "sigreturn", "exit", "exit_group"),
    "aarch64": ("rt_sigreturn", "exit", "exit_group"),
    "arm": ("rt_sigreturn", "sigreturn", "exit", "exit_group"),
    "ppc64le": ("rt_sigreturn", "exit", "exit_group"),
    "s390x": ("rt_sigreturn", "sigreturn", "exit", "exit_group"),
    "riscv64": ("rt_sigreturn", "exit", "exit_group"),
}

# What the Go runtime of runc's init may call at any point (GC, scheduler, signals).
GO_RUNTIME: tuple[str, ...] = (
    "futex", "nanosleep", "sched_yield", "madvise", "mmap", "munmap", "mprotect", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "gettid", "getpid", "tgkill", "clone", "exit",
    "exit_group", "epoll_pwait", "epoll_ctl", "epoll_create1", "pipe2", "read", "write", "close", "fcntl",
)  # fmt: skip


def additions(observed: Iterable[tuple[str, str]], runtime_calls: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (arch, name) pairs to allow on top of a container's ``observed`` calls.

    ``runtime_calls`` are the calls runc's init made in any traced container:
    every container gets them, and the Go runtime's background calls, on the
    architectures the container was seen on.
    """
    arches = {arch for arch, _name in observed}
    extra = {(arch, name) for arch in arches for name in ALWAYS_ALLOWED.get(arch, ())}
    runtime = set(runtime_calls)
    extra |= {(arch, name) for arch, name in runtime if arch in arches}
    if runtime:
        extra |= {(arch, name) for arch in arches for name in GO_RUNTIME}
    return extra
