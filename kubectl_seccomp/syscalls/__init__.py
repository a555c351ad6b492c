"""Architectures and syscall names: what an audit record's ``arch=`` and
``syscall=`` numbers mean, and how a profile spells the architecture.

Standard library only: the node agent imports this module. The number -> name
tables themselves are generated data (``_tables.py``, made by ``generate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from kubectl_seccomp.syscalls._tables import SOURCE, TABLES


@dataclass(frozen=True)
class Arch:
    """One CPU architecture as the kernel, the audit record and a profile name it."""

    name: str  # our name, also the key of TABLES
    audit_arch: int  # AUDIT_ARCH_* value printed as arch=<hex> in the record
    scmp_arch: str  # the SCMP_ARCH_* name a seccomp profile uses


ARCHES: tuple[Arch, ...] = (
    Arch("x86_64", 0xC000003E, "SCMP_ARCH_X86_64"),
    Arch("i386", 0x40000003, "SCMP_ARCH_X86"),
    Arch("aarch64", 0xC00000B7, "SCMP_ARCH_AARCH64"),
    Arch("arm", 0x40000028, "SCMP_ARCH_ARM"),
    Arch("ppc64le", 0xC0000015, "SCMP_ARCH_PPC64LE"),
    Arch("s390x", 0x80000016, "SCMP_ARCH_S390X"),
    Arch("riscv64", 0xC00000F3, "SCMP_ARCH_RISCV64"),
)

_BY_AUDIT_ARCH = {arch.audit_arch: arch for arch in ARCHES}
_BY_NAME = {arch.name: arch for arch in ARCHES}
_BY_SCMP = {arch.scmp_arch: arch for arch in ARCHES}

TABLE_SOURCE = SOURCE


def arch_from_audit(audit_arch: int) -> Optional[Arch]:
    """The architecture of an ``arch=`` value, or None when we have no table for it."""
    return _BY_AUDIT_ARCH.get(audit_arch)


def arch_by_name(name: str) -> Optional[Arch]:
    """Look an architecture up by our name (x86_64) or its SCMP_ARCH_* name."""
    return _BY_NAME.get(name) or _BY_SCMP.get(name)


def syscall_name(arch: Arch, number: int) -> Optional[str]:
    """The name of syscall ``number`` on ``arch``; None when the table has no such number."""
    return TABLES[arch.name].get(number)


def known_syscall_names() -> frozenset[str]:
    """Every syscall name on any architecture we know (to validate profiles)."""
    return frozenset(name for table in TABLES.values() for name in table.values())
