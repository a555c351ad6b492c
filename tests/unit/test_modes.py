"""Profile modes: complain/enforce conversion, file names that say the mode, status modes, fold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_seccomp import modes
from kubectl_seccomp.errors import ProfileError
from kubectl_seccomp.profile import Profile
from kubectl_seccomp.workflows._common import applied_path
from kubectl_seccomp.workflows._modes import refuses_flags
from kubectl_seccomp.workflows.watch import fold

RECORDED = Profile.from_observations([("x86_64", "read"), ("x86_64", "write"), ("i386", "read")])


def test_complain_keeps_the_allow_rules_and_logs_the_rest() -> None:
    complain = RECORDED.in_mode("complain")
    data = complain.to_dict()
    assert data["defaultAction"] == "SCMP_ACT_LOG" and "defaultErrnoRet" not in data and "flags" not in data
    assert complain.rules == RECORDED.rules and complain.architectures == RECORDED.architectures
    assert complain.mode == "complain"


def test_enforce_round_trip_and_log_denials() -> None:
    assert RECORDED.in_mode("complain").in_mode("enforce") == RECORDED
    logged = RECORDED.in_mode("enforce", log_denials=True)
    assert logged.flags == ("SECCOMP_FILTER_FLAG_LOG",) and logged.default_errno_ret == 1
    assert logged.in_mode("complain").flags == ()  # runc 1.1 refuses flags; LOG needs none
    assert logged.in_mode("enforce") == logged  # an enforce profile keeps its flag


def test_no_allow_rules_no_mode() -> None:
    assert Profile.log_profile(["x86_64"]).mode == "log"
    with pytest.raises(ProfileError, match="without allow rules"):
        Profile.log_profile(["x86_64"]).in_mode("complain")
    with pytest.raises(ProfileError, match="unknown mode"):
        RECORDED.in_mode("audit")


def test_file_names_say_the_mode() -> None:
    enforce = applied_path("ns", "web", "app", RECORDED.to_json())
    complain = applied_path("ns", "web", "app", RECORDED.in_mode("complain").to_json())
    assert enforce.startswith("kubectl-seccomp/ns/web-app-") and not enforce.endswith("-complain.json")
    assert complain.endswith("-complain.json") and complain[: -len("-complain.json")] != enforce[: -len(".json")]
    assert modes.mode_of_path(enforce) == "enforce" and modes.mode_of_path(complain) == "complain"
    assert modes.mode_of_path("kubectl-seccomp/ns/web-log.json") == "log"
    assert modes.mode_of_path("other/profile.json") == "localhost"


@pytest.mark.parametrize(
    ("setting", "default", "mode"),
    [
        ({"type": "RuntimeDefault"}, None, "runtime-default"),
        ({"type": "Unconfined"}, True, "unconfined"),
        (None, True, "runtime-default"),
        (None, False, "unconfined"),
        (None, None, "unknown"),
        ({"type": "Localhost", "localhostProfile": "kubectl-seccomp/a/b-c-0123456789-complain.json"}, None, "complain"),
    ],
)
def test_mode_of_a_setting(setting: dict[str, str] | None, default: bool | None, mode: str) -> None:
    assert modes.mode_of(setting, default) == mode


def test_logs_denials_reads_the_flag() -> None:
    assert modes.logs_denials(RECORDED.in_mode("enforce", log_denials=True).to_json())
    assert not modes.logs_denials(RECORDED.to_json())
    assert not modes.logs_denials("not json")


def test_runc_refusal_is_recognised() -> None:
    assert refuses_flags(["Error: runc create failed: seccomp flags are not yet supported by runc"])
    assert not refuses_flags(["CrashLoopBackOff: back-off 10s restarting failed container"])


def test_fold_adds_calls_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(RECORDED.in_mode("enforce", log_denials=True).to_json())
    result = fold(path, {("x86_64", "getpriority"), ("x86_64", "read")})
    assert result.diff.added_syscalls == ("getpriority",)
    data = json.loads(path.read_text())
    assert data["defaultAction"] == "SCMP_ACT_ERRNO" and data["flags"] == ["SECCOMP_FILTER_FLAG_LOG"]
    assert "getpriority" in data["syscalls"][0]["names"]
    again = fold(path, {("x86_64", "getpriority")})
    assert again.diff.added_syscalls == () and again.before == again.after
