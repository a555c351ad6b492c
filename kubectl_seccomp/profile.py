"""Seccomp profiles: build them from observed syscalls, merge, diff, validate,
read and write them.

A profile is written with only the keys containerd decodes (it silently drops
Docker-only ones such as ``archMap`` or ``comment``): ``defaultAction``,
``defaultErrnoRet``, ``architectures``, ``flags`` and ``syscalls`` entries of
``names``, ``action``, ``errnoRet`` and ``args``. Writing is deterministic: the
same profile always gives the same bytes, so files can be compared and hashed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Union

from kubectl_seccomp import files
from kubectl_seccomp.errors import ProfileError
from kubectl_seccomp.syscalls import ARCHES, arch_by_name, known_syscall_names

ACTIONS = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)
FLAGS = frozenset({"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"})
ARG_OPS = frozenset(
    {
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    }
)
# Every architecture libseccomp (so runc and crun) knows: any other name makes
# the runtime refuse the whole profile. Ours (syscalls.ARCHES) are among them.
LIBSECCOMP_ARCHES = frozenset(
    "SCMP_ARCH_" + name
    for name in (
        *("X86", "X86_64", "X32", "ARM", "AARCH64", "LOONGARCH64", "M68K", "MIPS", "MIPS64", "MIPS64N32"),
        *("MIPSEL", "MIPSEL64", "MIPSEL64N32", "PARISC", "PARISC64", "PPC", "PPC64", "PPC64LE", "RISCV64"),
        *("S390", "S390X", "SH", "SHEB"),
    )
)
# The shape of a syscall name on every architecture (_llseek, sync_file_range2).
_SYSCALL_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
# A profile is a few KiB (every syscall of every architecture: under 100 KiB).
MAX_PROFILE_BYTES = 4 << 20
SHOWN_NAMES = 10  # unknown names listed in a message; the rest are counted
EPERM = 1

# The modes a profile runs in (``Profile.mode``, ``Profile.in_mode``): ``enforce``
# denies what the allow rules leave out; ``complain`` lets it run and logs it
# (only calls outside the allow list reach the audit path, so it costs the app
# almost nothing); ``log`` is the recording's log-everything profile.
ENFORCE = "enforce"
COMPLAIN = "complain"
LOG = "log"
MODES = (ENFORCE, COMPLAIN)
LOG_FLAG = "SECCOMP_FILTER_FLAG_LOG"
_TOP_KEYS = frozenset({"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"})
_RULE_KEYS = frozenset({"names", "action", "errnoRet", "args"})
# What a Docker-style profile may carry that containerd ignores: reading such a
# file is fine, but we say that these keys will have no effect.
_IGNORED_KEYS = frozenset({"archMap", "comment", "includes", "excludes", "name", "listenerPath", "listenerMetadata"})


@dataclass(frozen=True)
class Rule:
    """One ``syscalls`` entry: an action for a set of syscall names."""

    names: tuple[str, ...]
    action: str
    errno_ret: Optional[int] = None
    args: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ProfileDiff:
    """What changes from one profile to another."""

    added_syscalls: tuple[str, ...]
    removed_syscalls: tuple[str, ...]
    added_architectures: tuple[str, ...]
    removed_architectures: tuple[str, ...]
    default_action_changed: bool

    @property
    def empty(self) -> bool:
        return not (
            self.added_syscalls
            or self.removed_syscalls
            or self.added_architectures
            or self.removed_architectures
            or self.default_action_changed
        )


def _sort_architectures(names: Iterable[str]) -> tuple[str, ...]:
    """Our order of architectures (x86_64 first), unknown names last, deduplicated."""
    order = {arch.scmp_arch: index for index, arch in enumerate(ARCHES)}
    return tuple(sorted(set(names), key=lambda name: (order.get(name, len(order)), name)))


@dataclass(frozen=True)
class Profile:
    """A seccomp profile as containerd, runc and crun read it."""

    default_action: str
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    default_errno_ret: Optional[int] = None
    flags: tuple[str, ...] = ()

    # -- building -------------------------------------------------------------

    @classmethod
    def from_observations(cls, observations: Iterable[tuple[str, str]], log_denials: bool = False) -> Profile:
        """An allow-list of exactly the observed ``(arch, syscall name)`` pairs.

        Everything else fails with EPERM. ``log_denials`` sets
        SECCOMP_FILTER_FLAG_LOG so that denied calls show up in the audit log
        (without it a broken app gives no clue which syscall it missed); off by
        default because runc 1.1 refuses any profile with ``flags``.
        """
        names: set[str] = set()
        architectures: set[str] = set()
        for arch_name, syscall in observations:
            arch = arch_by_name(arch_name)
            if arch is None:
                raise ProfileError(f"unknown architecture {arch_name!r}")
            architectures.add(arch.scmp_arch)
            names.add(syscall)
        rules = (Rule(tuple(sorted(names)), "SCMP_ACT_ALLOW"),) if names else ()
        return cls(
            default_action="SCMP_ACT_ERRNO",
            default_errno_ret=EPERM,
            architectures=_sort_architectures(architectures),
            flags=("SECCOMP_FILTER_FLAG_LOG",) if log_denials else (),
            rules=rules,
        )

    @classmethod
    def log_profile(cls, arch_names: Iterable[str]) -> Profile:
        """The profile used while recording: every syscall runs and is logged."""
        architectures = []
        for name in arch_names:
            arch = arch_by_name(name)
            if arch is None:
                raise ProfileError(f"unknown architecture {name!r}")
            architectures.append(arch.scmp_arch)
        return cls(default_action="SCMP_ACT_LOG", architectures=_sort_architectures(architectures))

    @property
    def allowed_syscalls(self) -> frozenset[str]:
        """The names allowed unconditionally (rules without arguments)."""
        return frozenset(
            name for rule in self.rules if rule.action == "SCMP_ACT_ALLOW" and not rule.args for name in rule.names
        )

    @property
    def mode(self) -> str:
        """``log`` (logs everything), ``complain`` (allow rules, logs the rest), else ``enforce``."""
        if self.default_action == "SCMP_ACT_LOG":
            return COMPLAIN if self.rules else LOG
        return ENFORCE

    def in_mode(self, mode: str, *, log_denials: bool = False) -> Profile:
        """The same allow rules with the default action of ``mode``.

        ``complain``: ``SCMP_ACT_LOG`` and no flags (LOG records are written
        without ``SECCOMP_FILTER_FLAG_LOG``, and runc 1.1 refuses any flag).
        ``enforce``: ``SCMP_ACT_ERRNO`` (EPERM), with ``SECCOMP_FILTER_FLAG_LOG``
        if ``log_denials`` (or if the profile had it already).
        """
        if mode not in MODES:
            raise ProfileError(f"unknown mode {mode!r}", hint="use enforce or complain")
        if not self.allowed_syscalls:
            raise ProfileError(
                f"a profile without allow rules cannot be put in {mode} mode "
                f"(it would {'log' if mode == COMPLAIN else 'deny'} every call)"
            )
        others = tuple(flag for flag in self.flags if flag != LOG_FLAG)
        if mode == COMPLAIN:
            return replace(self, default_action="SCMP_ACT_LOG", default_errno_ret=None, flags=others)
        keep_log = log_denials or (LOG_FLAG in self.flags and self.mode == ENFORCE)
        flags = tuple(sorted(set(others) | ({LOG_FLAG} if keep_log else set())))
        default = self.default_action if self.mode == ENFORCE else "SCMP_ACT_ERRNO"
        errno = self.default_errno_ret if self.mode == ENFORCE else EPERM
        return replace(self, default_action=default, default_errno_ret=errno, flags=flags)

    def merge(self, other: Profile) -> Profile:
        """The union: syscalls allowed by either, architectures of both.

        Only allow-list profiles (same default action, unconditional allow
        rules) merge; anything else would change meaning silently.
        """
        for profile in (self, other):
            if any(rule.action != "SCMP_ACT_ALLOW" or rule.args for rule in profile.rules):
                raise ProfileError("only allow-list profiles (unconditional SCMP_ACT_ALLOW rules) can be merged")
        if self.default_action != other.default_action:
            raise ProfileError(
                f"cannot merge profiles with different default actions "
                f"({self.default_action} and {other.default_action})"
            )
        if self.default_errno_ret != other.default_errno_ret:
            raise ProfileError(
                f"cannot merge profiles with different defaultErrnoRet "
                f"({_errno_text(self.default_errno_ret)} and {_errno_text(other.default_errno_ret)})"
            )
        names = tuple(sorted(self.allowed_syscalls | other.allowed_syscalls))
        return Profile(
            default_action=self.default_action,
            default_errno_ret=self.default_errno_ret,
            architectures=_sort_architectures(self.architectures + other.architectures),
            flags=tuple(sorted(set(self.flags) | set(other.flags))),
            rules=(Rule(names, "SCMP_ACT_ALLOW"),) if names else (),
        )

    def diff(self, other: Profile) -> ProfileDiff:
        """What ``other`` allows that this one does not, and the reverse."""
        mine, theirs = self.allowed_syscalls, other.allowed_syscalls
        return ProfileDiff(
            added_syscalls=tuple(sorted(theirs - mine)),
            removed_syscalls=tuple(sorted(mine - theirs)),
            added_architectures=tuple(sorted(set(other.architectures) - set(self.architectures))),
            removed_architectures=tuple(sorted(set(self.architectures) - set(other.architectures))),
            default_action_changed=(self.default_action, self.default_errno_ret)
            != (other.default_action, other.default_errno_ret),
        )

    # -- reading and writing --------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"defaultAction": self.default_action}
        if self.default_errno_ret is not None:
            data["defaultErrnoRet"] = self.default_errno_ret
        data["architectures"] = list(self.architectures)
        if self.flags:
            data["flags"] = list(self.flags)
        syscalls = []
        for rule in self.rules:
            entry: dict[str, Any] = {"names": list(rule.names), "action": rule.action}
            if rule.errno_ret is not None:
                entry["errnoRet"] = rule.errno_ret
            if rule.args:
                entry["args"] = [dict(arg) for arg in rule.args]
            syscalls.append(entry)
        data["syscalls"] = syscalls
        return data

    def to_json(self) -> str:
        """Deterministic JSON text with a final newline."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "profile") -> Profile:
        """Read and validate a decoded profile; ``source`` names it in errors."""
        if not isinstance(data, dict):
            raise ProfileError(f"{source}: not a seccomp profile (expected a JSON object)")
        if "defaultAction" not in data:
            raise ProfileError(f"{source}: not a seccomp profile (no defaultAction)")
        unknown = set(data) - _TOP_KEYS - _IGNORED_KEYS
        if unknown:
            raise ProfileError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
        if set(data) & _IGNORED_KEYS:
            raise ProfileError(
                f"{source}: key(s) {', '.join(sorted(set(data) & _IGNORED_KEYS))} are Docker-only; "
                "containerd ignores them, so the profile would not do what it says",
                hint="write architectures and syscalls explicitly",
            )
        default_action = _action(data["defaultAction"], source, "defaultAction")
        default_errno = _optional_int(data.get("defaultErrnoRet"), source, "defaultErrnoRet")
        architectures = _string_list(data.get("architectures", []), source, "architectures")
        for name in architectures:
            if name not in LIBSECCOMP_ARCHES:
                raise ProfileError(
                    f"{source}: architectures: {name[:60]!r} is not an architecture libseccomp knows",
                    hint="runc and crun refuse the whole profile; names look like SCMP_ARCH_X86_64",
                )
        flags = _string_list(data.get("flags", []) or [], source, "flags")
        for flag in flags:
            if flag not in FLAGS:
                raise ProfileError(f"{source}: flags: unknown flag {flag!r}")
        raw_rules = data.get("syscalls", []) or []
        if not isinstance(raw_rules, list):
            raise ProfileError(f"{source}: syscalls must be a list")
        rules = tuple(_rule(raw, source, index) for index, raw in enumerate(raw_rules))
        return cls(
            default_action=default_action,
            default_errno_ret=default_errno,
            architectures=tuple(architectures),
            flags=tuple(flags),
            rules=rules,
        )

    @classmethod
    def from_json(cls, text: str, source: str = "profile") -> Profile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ProfileError(
                f"{source}: not JSON ({error.msg} at line {error.lineno} column {error.colno})"
            ) from error
        except ValueError as error:  # an integer of more digits than Python converts
            raise ProfileError(f"{source}: not a seccomp profile (a number with too many digits)") from error
        except RecursionError as error:
            raise ProfileError(f"{source}: not a seccomp profile (nested too deeply)") from error
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: Union[Path, str], strict: bool = False) -> Profile:
        """Read a profile file (``-``: standard input); any problem is a one-line :class:`ProfileError`.

        Syscall names no architecture we know has are an error with ``strict``;
        without it the caller warns with :meth:`unknown_names_warning`.
        """
        name = files.display_name(str(path))
        data = files.read_capped(str(path), MAX_PROFILE_BYTES, "a seccomp profile", ProfileError)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProfileError(f"{name}: not JSON (not UTF-8 text)") from error
        profile = cls.from_json(text, name)
        if strict and profile.unknown_syscalls():
            raise ProfileError(profile.unknown_names_message(name), hint="fix or remove them, or leave out --strict")
        return profile

    def unknown_names_message(self, source: str) -> str:
        unknown = self.unknown_syscalls()
        shown = ", ".join(unknown[:SHOWN_NAMES])
        if len(unknown) > SHOWN_NAMES:
            shown += f" and {len(unknown) - SHOWN_NAMES} more"
        return f"{source}: {len(unknown)} syscall name(s) no architecture has (typos?): {shown}"

    def unknown_names_warning(self, source: str) -> Optional[str]:
        """A one-line warning naming the unknown syscall names, or None when there are none."""
        return self.unknown_names_message(source) if self.unknown_syscalls() else None

    def unknown_syscalls(self) -> tuple[str, ...]:
        """Names in the rules that no architecture we know has (likely typos)."""
        known = known_syscall_names()
        return tuple(sorted({name for rule in self.rules for name in rule.names} - known))


def _errno_text(value: Optional[int]) -> str:
    return "unset" if value is None else str(value)


def _action(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or value not in ACTIONS:
        raise ProfileError(f"{source}: {where}: {value!r} is not a seccomp action")
    return value


def _optional_int(value: Any, source: str, where: str) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProfileError(f"{source}: {where}: {value!r} is not a non-negative integer")
    return value


def _string_list(value: Any, source: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProfileError(f"{source}: {where} must be a list of strings")
    return value


def _rule(raw: Any, source: str, index: int) -> Rule:
    where = f"syscalls[{index}]"
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: {where} must be an object")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ProfileError(
            f"{source}: {where}: key(s) {', '.join(sorted(unknown))} are not read by containerd",
            hint="use names, action, errnoRet and args only",
        )
    if "names" not in raw:
        raise ProfileError(f"{source}: {where} has no names")
    names = _string_list(raw["names"], source, f"{where}.names")
    if not names:
        raise ProfileError(f"{source}: {where}.names is empty")
    for name in names:
        if not _SYSCALL_NAME.match(name):
            raise ProfileError(f"{source}: {where}.names: {name[:60]!r} is not a syscall name")
    action = _action(raw.get("action"), source, f"{where}.action")
    errno_ret = _optional_int(raw.get("errnoRet"), source, f"{where}.errnoRet")
    args = raw.get("args") or []
    if not isinstance(args, list):
        raise ProfileError(f"{source}: {where}.args must be a list")
    for arg in args:
        if not isinstance(arg, dict) or arg.get("op") not in ARG_OPS or not isinstance(arg.get("index"), int):
            raise ProfileError(f"{source}: {where}.args: each needs an index and an SCMP_CMP_* op")
    return Rule(names=tuple(names), action=action, errno_ret=errno_ret, args=tuple(args))
