"""kubectl seccomp: record the syscalls of a Kubernetes workload and give it a tight seccomp profile."""

__version__ = "0.1.0"
