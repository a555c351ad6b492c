"""Bad input and failing writes for the offline commands (generate, merge, diff):
one clear line, the right exit code, and the user's files left as they were.

Writes that fail run the real CLI in a child process under a tiny
RLIMIT_FSIZE or with standard output on /dev/full.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_seccomp.cli import run
from kubectl_seccomp.commands._cluster import duration
from kubectl_seccomp.errors import ProfileError, UsageError
from kubectl_seccomp.profile import Profile

REPO = Path(__file__).resolve().parents[2]
RECORDS = REPO / "tests" / "fixtures" / "records"
LOG = RECORDS / "audit-raw.log"


def profile_text(*names: str, arch: str = "SCMP_ARCH_X86_64", errno_ret: int | None = 1) -> str:
    data: dict[str, object] = {"defaultAction": "SCMP_ACT_ERRNO"}
    if errno_ret is not None:
        data["defaultErrnoRet"] = errno_ret
    data["architectures"] = [arch]
    data["syscalls"] = [{"names": list(names), "action": "SCMP_ACT_ALLOW"}] if names else []
    return json.dumps(data)


def cli(*args: str, stdout: object = subprocess.PIPE, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a real process (``python3 -m kubectl_seccomp``)."""

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", *args],
        stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=limit, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if not line.startswith("hint: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr
    return lines[0]


# -- writes -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["generate", "merge"])
def test_a_failed_write_leaves_the_old_file_intact(command: str, tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    out.write_text("OLD\n")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(profile_text("read", "write"))
    b.write_text(profile_text("close"))
    args = ["generate", "-f", str(LOG)] if command == "generate" else ["merge", str(a), str(b)]
    result = cli(*args, "--to", str(out), fsize=64)  # the profile is longer than 64 bytes
    assert result.returncode == 1
    too_large = "file too large (a file size limit, ulimit -f?)"
    assert one_error_line(result.stderr) == f"error: {out}: cannot write: {too_large}"
    assert out.read_text() == "OLD\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "profile.json"]  # no temporary left
    # Without the limit the same command replaces it, keeping its mode.
    out.chmod(0o640)
    assert cli(*args, "--to", str(out)).returncode == 0
    assert json.loads(out.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"
    assert out.stat().st_mode & 0o777 == 0o640


def test_output_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("OLD\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert cli("generate", "-f", str(LOG), "--to", str(link)).returncode == 0
    assert link.is_symlink() and json.loads(target.read_text())["syscalls"]


def test_output_to_a_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    # Replacing /dev/full or /dev/stdout by a regular file would be a disaster: write them in place.
    result = cli("generate", "-f", str(LOG), "--to", "/dev/full")
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "error: /dev/full: cannot write: No space left on device"
    assert Path("/dev/full").is_char_device()
    result = cli("generate", "-f", str(LOG), "--to", "/dev/stdout")
    assert result.returncode == 0 and json.loads(result.stdout)["syscalls"]
    assert Path("/dev/full").is_char_device() and not list(Path("/dev").glob(".full.*.tmp"))


@pytest.mark.parametrize("command", ["generate", "merge"])
def test_standard_output_on_a_full_device_is_one_line(command: str, tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(profile_text("read"))
    args = ["generate", "-f", str(LOG)] if command == "generate" else ["merge", str(a), str(a)]
    with open("/dev/full", "w") as full:
        result = cli(*args, stdout=full)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "error: standard output: cannot write: No space left on device"


# -- generate's inputs ----------------------------------------------------------


def test_an_unreadable_device_is_one_line() -> None:
    result = cli("generate", "-f", "/proc/self/mem")
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "error: /proc/self/mem: cannot read: Input/output error"


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link"])
def test_output_that_is_an_input_is_refused(how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(LOG.read_bytes())
    output = log
    if how == "symlink":
        output = tmp_path / "out.json"
        output.symlink_to(log)
    elif how == "hard link":
        output = tmp_path / "out.json"
        os.link(log, output)
    assert run(["generate", "-f", str(log), "--to", str(output)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == f"error: {output} is also an input ({log}); writing it would destroy it"
    assert log.read_bytes() == LOG.read_bytes()


@pytest.mark.parametrize("pid", ["-5", "0"])
def test_a_pid_must_be_positive(pid: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["generate", "-f", str(LOG), "--pid", pid]) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: --pid {pid}: a process id is a positive number"


def test_a_pid_without_records_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["generate", "-f", str(LOG), "--pid", "999999"]) == 1
    err = capsys.readouterr().err
    assert one_error_line(err) == f"error: no records of pid 999999 in {LOG}"
    hint = err.splitlines()[1]
    assert hint.startswith("hint: ") and hint.endswith("records are of other processes; leave out --pid to list them")
    assert "pids \n" not in err and not hint.endswith("pids ")


def test_standard_input_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["generate", "-f", "-", "-f", "-"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        "error: --audit-log '-' (standard input) is given more than once; it can be read only once"
    )


# -- merge and diff -------------------------------------------------------------


def test_merge_needs_two_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one.json"
    one.write_text(profile_text("read"))
    assert run(["merge", str(one)]) == 2
    assert one_error_line(capsys.readouterr().err) == "error: merge needs two or more profiles"


def test_merge_of_errno_difference_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(profile_text("read", errno_ret=1))
    b.write_text(profile_text("read", errno_ret=38))
    assert run(["merge", str(a), str(b)]) == 1
    assert one_error_line(capsys.readouterr().err) == (
        "error: cannot merge profiles with different defaultErrnoRet (1 and 38)"
    )


def test_merge_and_diff_read_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = tmp_path / "b.json"
    b.write_text(profile_text("close"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(profile_text("read").encode())))
    assert run(["merge", "-", str(b)]) == 0
    assert json.loads(capsys.readouterr().out)["syscalls"][0]["names"] == ["close", "read"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(profile_text("read").encode())))
    assert run(["diff", "-", str(b)]) == 1
    assert capsys.readouterr().out.splitlines() == ["+ close", "- read"]
    for command in (["merge", "-", "-"], ["diff", "-", "-"]):
        assert run(command) == 2
        assert "'-' (standard input) is given more than once" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.json", "no such file"),
        (
            lambda d: (d / "garbage.json").write_text("not json") and d / "garbage.json",
            "not JSON (Expecting value at line 1 column 1)",
        ),
        (lambda d: Path("/dev/urandom"), "more than 4 MiB, too big to be a seccomp profile"),
    ],
    ids=["missing", "garbage", "urandom"],
)
def test_diff_exits_2_on_trouble_and_1_on_difference(
    make,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    good, other = tmp_path / "good.json", tmp_path / "other.json"
    good.write_text(profile_text("read"))
    other.write_text(profile_text("write"))
    bad = make(tmp_path)
    assert run(["diff", str(good), str(bad)]) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: {bad}: {message}"
    assert run(["merge", str(bad), str(good)]) == 1
    assert one_error_line(capsys.readouterr().err) == f"error: {bad}: {message}"
    assert run(["diff", str(good), str(other)]) == 1
    assert run(["diff", str(good), str(good)]) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ' + "9" * 5000 + "}",
         "not a seccomp profile (a number with too many digits)"),
        ("[" * 200_000 + "]" * 200_000, "not a seccomp profile (nested too deeply)"),
        (profile_text("read", arch="SCMP_ARCH_FOO"),
         "architectures: 'SCMP_ARCH_FOO' is not an architecture libseccomp knows"),
        (profile_text("read", "../../etc/passwd"), "syscalls[0].names: '../../etc/passwd' is not a syscall name"),
    ],
    ids=["5000 digits", "deep nesting", "SCMP_ARCH_FOO", "../../etc/passwd"],
)  # fmt: skip
def test_impossible_profiles_are_one_line(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, good = tmp_path / "bad.json", tmp_path / "good.json"
    bad.write_text(text)
    good.write_text(profile_text("read"))
    assert run(["merge", str(bad), str(good), "--to", str(tmp_path / "out.json")]) == 1
    assert one_error_line(capsys.readouterr().err) == f"error: {bad}: {message}"
    assert not (tmp_path / "out.json").exists()
    assert run(["diff", str(good), str(bad)]) == 2
    assert one_error_line(capsys.readouterr().err) == f"error: {bad}: {message}"


def test_unknown_syscall_names_warn_or_fail_with_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd, good = tmp_path / "odd.json", tmp_path / "good.json"
    odd.write_text(profile_text("read", "not_a_syscall"))
    good.write_text(profile_text("write"))
    assert run(["merge", str(odd), str(good)]) == 0
    out, err = capsys.readouterr()
    assert err == f"warning: {odd}: 1 syscall name(s) no architecture has (typos?): not_a_syscall\n"
    assert "not_a_syscall" in json.loads(out)["syscalls"][0]["names"]  # kept: the user was told
    assert run(["merge", "--strict", str(odd), str(good)]) == 1
    assert one_error_line(capsys.readouterr().err).startswith(f"error: {odd}: 1 syscall name(s) no architecture has")
    assert run(["diff", "--strict", str(good), str(odd)]) == 2
    assert one_error_line(capsys.readouterr().err).startswith(f"error: {odd}: 1 syscall name(s)")
    assert run(["diff", str(good), str(odd)]) == 1
    assert capsys.readouterr().err.startswith(f"warning: {odd}: 1 syscall name(s)")


# -- durations (the flags of the cluster commands) -------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h30m", 5400.0), ("90s", 90.0), ("1m30s", 90.0), ("90", 90.0), ("1.5m", 90.0), ("250ms", 0.25),
     ("2h45m30s", 9930.0)],
)  # fmt: skip
def test_go_style_durations(text: str, seconds: float) -> None:
    assert duration(text, "--duration") == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [("99999999999h", "--duration '99999999999h' is more than 168h"), ("169h", "--duration '169h' is more than 168h"),
     ("1h30", "--duration '1h30' is not a duration"), ("5 minutes", "--duration '5 minutes' is not a duration"),
     ("0s", "--duration must be more than 0"), ("1e9", "--duration '1e9' is not a duration")],
)  # fmt: skip
def test_absurd_durations_are_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        duration(text, "--duration")
    assert raised.value.message == message and raised.value.exit_code == 2


def test_the_profile_reader_apply_uses_takes_standard_input_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # apply -f - reads its profile through Profile.load, once.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(profile_text("read").encode())))
    assert Profile.load("-").allowed_syscalls == {"read"}
    with pytest.raises(ProfileError, match=r"^standard input: not JSON"):
        Profile.load("-")  # what is left of standard input: nothing


def test_merge_into_one_of_its_inputs(tmp_path: Path) -> None:
    # Unlike generate's log, a profile given to merge may be its output: all are read first.
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(profile_text("read"))
    b.write_text(profile_text("write"))
    assert run(["merge", str(a), str(b), "--to", str(a)]) == 0
    assert json.loads(a.read_text())["syscalls"][0]["names"] == ["read", "write"]
