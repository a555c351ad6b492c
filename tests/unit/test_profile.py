"""Profiles: built from observations, merged, diffed, validated, written byte-identically."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubectl_seccomp.errors import ProfileError
from kubectl_seccomp.profile import Profile


def test_allow_list_of_exactly_the_observations() -> None:
    profile = Profile.from_observations([("x86_64", "write"), ("x86_64", "read"), ("aarch64", "read")])
    assert "flags" not in json.loads(profile.to_json())  # runc 1.1 refuses profiles with flags
    profile = Profile.from_observations(
        [("x86_64", "write"), ("x86_64", "read"), ("aarch64", "read")], log_denials=True
    )
    data = json.loads(profile.to_json())
    assert data == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
    }
    assert set(data) <= {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"}


def test_same_input_same_bytes() -> None:
    pairs = [("x86_64", name) for name in ("openat", "read", "close", "mmap")]
    first = Profile.from_observations(pairs).to_json()
    second = Profile.from_observations(reversed(pairs)).to_json()
    assert first == second and first.endswith("\n")


def test_round_trip() -> None:
    profile = Profile.from_observations([("x86_64", "read"), ("i386", "read")], log_denials=False)
    assert Profile.from_json(profile.to_json()) == profile


def test_merge_is_a_union() -> None:
    a = Profile.from_observations([("x86_64", "read"), ("x86_64", "write")])
    b = Profile.from_observations([("aarch64", "read"), ("aarch64", "openat")])
    merged = a.merge(b)
    assert merged.allowed_syscalls == {"read", "write", "openat"}
    assert merged.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")
    assert merged == b.merge(a)


def test_merge_refuses_different_defaults() -> None:
    with pytest.raises(ProfileError, match="different default actions"):
        Profile.from_observations([("x86_64", "read")]).merge(Profile.log_profile(["x86_64"]))


def test_diff() -> None:
    a = Profile.from_observations([("x86_64", "read"), ("x86_64", "write")])
    b = Profile.from_observations([("x86_64", "read"), ("x86_64", "openat"), ("aarch64", "read")])
    diff = a.diff(b)
    assert diff.added_syscalls == ("openat",) and diff.removed_syscalls == ("write",)
    assert diff.added_architectures == ("SCMP_ARCH_AARCH64",) and not diff.removed_architectures
    assert not diff.default_action_changed and not diff.empty
    assert a.diff(a).empty


def test_log_profile() -> None:
    assert json.loads(Profile.log_profile(["x86_64", "aarch64"]).to_json()) == {
        "defaultAction": "SCMP_ACT_LOG",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"syscalls": []}', "no defaultAction"),
        ('{"defaultAction": "ALLOW"}', "is not a seccomp action"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x86_64"]}', "not an architecture libseccomp knows"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW"}]}',
            "not read by containerd",
        ),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "archMap": []}', "Docker-only"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}',
            "is empty",
        ),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}', "non-negative"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["FOO"]}', "unknown flag"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "foo": 1}', "unknown key"),
    ],
)
def test_bad_profiles_name_the_file_and_problem(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as error:
        Profile.from_json(text, "p.json")
    assert error.value.message.startswith("p.json: ")
    assert "\n" not in error.value.message


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such file"):
        Profile.load(tmp_path / "missing.json")
    with pytest.raises(ProfileError, match="is a directory"):
        Profile.load(tmp_path)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProfileError, match="not JSON"):
        Profile.load(binary)


def test_unknown_syscall_names_are_found() -> None:
    profile = Profile.from_json(
        '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "raed"], "action": "SCMP_ACT_ALLOW"}]}'
    )
    assert profile.unknown_syscalls() == ("raed",)


ALLOW_LIST = (
    '{"defaultAction": "SCMP_ACT_ERRNO", "architectures": %s, "syscalls": [{"names": %s, "action": "SCMP_ACT_ALLOW"}]}'
)


@pytest.mark.parametrize(
    ("architectures", "names", "message"),
    [
        ('["SCMP_ARCH_FOO"]', '["read"]', "'SCMP_ARCH_FOO' is not an architecture libseccomp knows"),
        ('["SCMP_ARCH_X86_64"]', '["../../etc/passwd"]', "'../../etc/passwd' is not a syscall name"),
        ('["SCMP_ARCH_X86_64"]', '["read", ""]', "'' is not a syscall name"),
    ],
)
def test_impossible_architectures_and_names_are_refused(architectures: str, names: str, message: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(message)):
        Profile.from_json(ALLOW_LIST % (architectures, names), "p.json")


def test_architectures_without_our_tables_are_still_read() -> None:
    profile = Profile.from_json(ALLOW_LIST % ('["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_X32"]', '["read"]'))
    assert profile.architectures == ("SCMP_ARCH_MIPSEL64", "SCMP_ARCH_X32")


def test_unknown_names_are_named_in_a_warning_or_refused_with_strict(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    made_up = [f"made_up_{n:05d}" for n in range(10_000)]
    path.write_text(ALLOW_LIST % ('["SCMP_ARCH_X86_64"]', json.dumps(["read", "not_a_syscall", *made_up])))
    profile = Profile.load(path)
    warning = profile.unknown_names_warning("p.json")
    assert warning == (
        "p.json: 10001 syscall name(s) no architecture has (typos?): made_up_00000, made_up_00001, made_up_00002, "
        "made_up_00003, made_up_00004, made_up_00005, made_up_00006, made_up_00007, made_up_00008, made_up_00009 "
        "and 9991 more"
    )
    with pytest.raises(ProfileError, match=r"10001 syscall name\(s\) no architecture has"):
        Profile.load(path, strict=True)
    path.write_text(ALLOW_LIST % ('["SCMP_ARCH_X86_64"]', '["read", "_llseek"]'))
    assert Profile.load(path, strict=True).unknown_names_warning("p.json") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ' + "9" * 5000 + "}", "a number with too many digits"),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ],
)
def test_pathological_json_is_one_profile_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=f"^{re.escape(str(path))}: not a seccomp profile \\({message}\\)$"):
        Profile.load(path)


def test_profile_reads_are_capped() -> None:
    with pytest.raises(ProfileError, match=r"^/dev/urandom: more than 4 MiB, too big to be a seccomp profile$"):
        Profile.load("/dev/urandom")
    with pytest.raises(ProfileError, match=r"^/dev/zero: more than 4 MiB"):
        Profile.load(Path("/dev/zero"))


def test_merge_names_the_errno_difference() -> None:
    base = '{"defaultAction": "SCMP_ACT_ERRNO", %s"architectures": ["SCMP_ARCH_X86_64"], "syscalls": []}'
    eperm = Profile.from_json(base % '"defaultErrnoRet": 1, ')
    enosys = Profile.from_json(base % '"defaultErrnoRet": 38, ')
    unset = Profile.from_json(base % "")
    with pytest.raises(ProfileError, match=r"^cannot merge profiles with different defaultErrnoRet \(1 and 38\)$"):
        eperm.merge(enosys)
    with pytest.raises(ProfileError, match=r"different defaultErrnoRet \(unset and 1\)$"):
        unset.merge(eperm)
