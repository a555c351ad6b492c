"""How many syscalls containerd's RuntimeDefault seccomp profile allows on an architecture.

docs/proven-apps.md compares our recorded profiles with the profile a pod gets
from ``seccompProfile: {type: RuntimeDefault}``. containerd builds that profile
in Go (``contrib/seccomp/seccomp_default.go``: one big allow list, then blocks
added by kernel version, by architecture and by the container's capabilities).
This module reads that source, read-only, and takes the blocks that apply to a
container with the CRI's default capabilities on ``GOARCH``; names that do not
exist on the architecture (libseccomp skips them) are not counted.

    python3 tests/e2e/apps/runtime_default.py SOURCE.go [GOARCH]

prints the count. Debian ships the source of its containerd in
golang-github-containerd-containerd-dev (``apt-get download`` it and
``dpkg-deb -x`` it anywhere; nothing is installed).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# containerd's CRI default capability set (pkg/cri/opts: oci.WithDefaultCapabilities)
DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
GOARCH_TO_TABLE = {"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
NAME = re.compile(r'"([a-z_0-9]+)"')


def _between(text: str, start: str, end: str) -> str:
    head = text.index(start) + len(start)
    return text[head : text.index(end, head)]


def _case(text: str, label: str) -> str:
    """The body of ``case "label"...:`` up to the next case/default/closing of the switch."""
    match = re.search(r'case [^:\n]*"' + re.escape(label) + r'"[^:\n]*:', text)
    if not match:
        return ""
    rest = text[match.end() :]
    stop = re.search(r"\n\s*(case |default:|}\n\n)", rest)
    return rest[: stop.start()] if stop else rest


def allowed_names(source: str, goarch: str) -> set[str]:
    names: set[str] = set()
    names |= set(NAME.findall(_between(source, "syscalls := []specs.LinuxSyscall{", "s := &specs.LinuxSeccomp")))
    names |= set(NAME.findall(_between(source, "// include by kernel version", "// include by arch")))
    names |= set(NAME.findall(_case(_between(source, "// include by arch", "admin := false"), goarch)))
    caps = _between(source, "range sp.Process.Capabilities.Bounding", "if !admin")
    for cap in DEFAULT_CAPS:
        names |= set(NAME.findall(_case(caps, cap)))
    not_admin = _between(source, "if !admin", "// clone3")  # clone3 itself gets ENOSYS, not allowed
    block = not_admin.split("default:", 1)[1] if goarch not in ("s390", "s390x") else _case(not_admin, goarch)
    names |= set(NAME.findall(block))
    return names


def count_on_arch(source: str, goarch: str) -> tuple[int, set[str]]:
    """(allowed names that exist on the arch, the set)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from kubectl_seccomp.syscalls._tables import TABLES

    existing = set(TABLES[GOARCH_TO_TABLE[goarch]].values())
    names = {n for n in allowed_names(source, goarch) if n in existing}
    return len(names), names


if __name__ == "__main__":
    count, _ = count_on_arch(Path(sys.argv[1]).read_text(), sys.argv[2] if len(sys.argv) > 2 else "amd64")
    print(count)
