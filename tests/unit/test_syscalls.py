"""The generated syscall tables: well-known numbers, and agreement with libseccomp
(Debian's python3-seccomp), a second well-kept source, wherever both know a number."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kubectl_seccomp.syscalls import ARCHES, arch_by_name, arch_from_audit, known_syscall_names, syscall_name
from kubectl_seccomp.syscalls._tables import TABLES
from kubectl_seccomp.syscalls.generate import parse_zsysnum

LIBSECCOMP_DUMP = """
import json, seccomp
arches = {"x86_64": "X86_64", "i386": "X86", "aarch64": "AARCH64", "arm": "ARM",
          "ppc64le": "PPC64LE", "s390x": "S390X", "riscv64": "RISCV64"}
out = {}
for name, attr in arches.items():
    arch, table = getattr(seccomp.Arch, attr), {}
    for number in list(range(0, 1100)) + list(range(0xF0000, 0xF0010)):
        try:
            table[number] = seccomp.resolve_syscall(arch, number).decode()
        except Exception:
            pass
    out[name] = table
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("arch", "number", "name"),
    [
        ("x86_64", 0, "read"),
        ("x86_64", 59, "execve"),
        ("x86_64", 435, "clone3"),
        ("i386", 11, "execve"),
        ("i386", 140, "_llseek"),
        ("aarch64", 56, "openat"),
        ("aarch64", 221, "execve"),
        ("arm", 11, "execve"),
        ("arm", 0xF0005, "set_tls"),
        ("ppc64le", 11, "execve"),
        ("s390x", 11, "execve"),
        ("riscv64", 221, "execve"),
    ],
)
def test_known_numbers(arch: str, number: int, name: str) -> None:
    found = arch_by_name(arch)
    assert found is not None
    assert syscall_name(found, number) == name
    assert arch_from_audit(found.audit_arch) == found


def test_every_arch_has_a_table_and_unknown_numbers_stay_unknown() -> None:
    assert {arch.name for arch in ARCHES} == set(TABLES)
    for arch in ARCHES:
        assert len(TABLES[arch.name]) > 300
        assert syscall_name(arch, 99999) is None
    assert arch_from_audit(0xC0000102) is None  # loongarch64: no table, not guessed
    assert {"read", "openat", "set_tls"} <= known_syscall_names()


def test_generator_parses_x_sys_files() -> None:
    text = "const (\n\tSYS_SYSCALL_MASK = 0\n\tSYS_RESTART_SYSCALL = 0\n\tSYS__LLSEEK = 140\n\tSYS_READ = 3\n)\n"
    assert parse_zsysnum(text) == {0: "restart_syscall", 140: "_llseek", 3: "read"}


def test_tables_agree_with_libseccomp() -> None:
    if (
        not Path("/usr/bin/python3").exists()
        or subprocess.run(["/usr/bin/python3", "-c", "import seccomp"], capture_output=True).returncode
    ):
        if os.environ.get("CI") == "true":
            pytest.fail("python3-seccomp is not installed (.ci/run installs it)")
        pytest.skip("Debian's python3-seccomp is not installed")
    dump = subprocess.run(["/usr/bin/python3", "-c", LIBSECCOMP_DUMP], capture_output=True, text=True, check=True)
    libseccomp = json.loads(dump.stdout)
    for arch, table in libseccomp.items():
        assert len(table) > 300, arch
        for number, name in table.items():
            assert TABLES[arch].get(int(number)) == name, (arch, number, name)
