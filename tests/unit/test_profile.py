"""Profiles: built from observations, merged, diffed, validated, written byte-identically."""

from __future__ import annotations

import json
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
        ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x86_64"]}', "not an SCMP_ARCH_"),
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
