"""``kubectl seccomp generate`` through the CLI entry: exact profiles, filters,
inputs (gzip, stdin), the summary, and one-line errors without tracebacks."""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
from pathlib import Path

import pytest

from kubectl_seccomp.cli import run
from kubectl_seccomp.syscalls import arch_from_audit, syscall_name

RECORDS = Path(__file__).parent.parent / "fixtures" / "records"
ENRICHED = RECORDS / "audit-enriched.log"


def logged_names(path: Path, pid: int | None = None) -> set[str]:
    """What a person would get with grep: the names of the LOG records' numbers."""
    names = set()
    for line in path.read_text(errors="replace").splitlines():
        if "code=0x7ffc0000" not in line or (pid is not None and f" pid={pid} " not in line):
            continue
        arch = arch_from_audit(int(re.search(r" arch=([0-9a-f]+)", line).group(1), 16))  # type: ignore[union-attr]
        number = int(re.search(r" syscall=(\d+)", line).group(1))  # type: ignore[union-attr]
        assert arch is not None
        name = syscall_name(arch, number)
        assert name is not None
        names.add(name)
    return names


def allowed(text: str) -> set[str]:
    return {name for rule in json.loads(text)["syscalls"] for name in rule["names"]}


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDS.iterdir()))
def test_exactly_the_syscalls_seen(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["generate", "--audit-log", str(RECORDS / name)]) == 0
    out, err = capsys.readouterr()
    assert allowed(out) == logged_names(RECORDS / name)
    assert "lines read:" in err and "records used:" in err


def test_pid_and_comm_filters(capsys: pytest.CaptureFixture[str]) -> None:
    text = ENRICHED.read_text()
    log_pids = sorted({int(p) for p in re.findall(r" pid=(\d+) [^\n]*code=0x7ffc0000", text)})
    all_pids = sorted({int(p) for p in re.findall(r"type=SECCOMP [^\n]* pid=(\d+) ", text)})
    assert log_pids and len(all_pids) > len(log_pids)
    pids = log_pids
    assert run(["generate", "-f", str(ENRICHED), "--pid", str(pids[0])]) == 0
    out, err = capsys.readouterr()
    assert allowed(out) == logged_names(ENRICHED, pids[0])
    assert "other processes:" in err
    assert run(["generate", "-f", str(ENRICHED), "--comm", "nosuchcomm"]) == 1
    _, err = capsys.readouterr()
    assert "no LOG records" in err and "comm 'nosuchcomm'" in err


def test_denials_are_listed_and_added_only_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    denied_pid = re.search(r" pid=(\d+) .*code=0x50000", ENRICHED.read_text()).group(1)  # type: ignore[union-attr]
    assert run(["generate", "-f", str(ENRICHED), "--pid", denied_pid]) == 1
    _, err = capsys.readouterr()
    assert "only denials" in err and "--include-denied" in err
    assert run(["generate", "-f", str(ENRICHED), "--pid", denied_pid, "--include-denied"]) == 0
    out, err = capsys.readouterr()
    assert "getppid" in allowed(out)
    assert "getppid ERRNO" in err


def test_gzip_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = logged_names(ENRICHED)
    compressed = tmp_path / "audit.log.1.gz"
    compressed.write_bytes(gzip.compress(ENRICHED.read_bytes()))
    assert run(["generate", "-f", str(compressed)]) == 0
    assert allowed(capsys.readouterr().out) == expected
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ENRICHED.read_bytes())))
    assert run(["generate", "-f", "-"]) == 0
    assert allowed(capsys.readouterr().out) == expected


def test_several_logs_and_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "sub" / "profile.json"
    assert run(["generate", "-f", str(RECORDS / "dmesg.txt"), "-f", str(ENRICHED), "--to", str(out_file)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert allowed(out_file.read_text()) == logged_names(RECORDS / "dmesg.txt") | logged_names(ENRICHED)
    assert f"profile written:  {out_file}" in err


def test_lost_records_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (RECORDS / "dmesg.txt").read_text().splitlines()
    gappy = tmp_path / "gappy.txt"
    gappy.write_text("\n".join(lines[:3] + lines[6:]) + "\n")
    assert run(["generate", "-f", str(gappy)]) == 0
    err = capsys.readouterr().err
    assert "records lost:     3 " in err and "warning: records were lost" in err


def unreadable_file() -> Path:
    path = Path("/proc/sys/vm/compact_memory")  # write-only: EACCES even for root
    try:
        path.read_bytes()
    except PermissionError:
        return path
    except OSError:
        pass
    pytest.skip("no file here that this user cannot read")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.log", "missing.log: no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: _write(tmp / "empty.log", b""), "empty.log: empty"),
        (
            lambda tmp: _write(tmp / "other.log", b"type=SYSCALL msg=audit(1.1:1): x\nhello\n"),
            "no SECCOMP records",
        ),
        (lambda tmp: _write(tmp / "bin.log", bytes(range(256)) * 20), "no SECCOMP records"),
        (lambda tmp: _write(tmp / "bad.gz", b"\x1f\x8b\x08garbage"), "bad.gz: cannot read"),
        (lambda tmp: unreadable_file(), "permission denied"),
    ],
    ids=["missing", "directory", "empty", "no-seccomp", "binary", "bad-gzip", "unreadable"],
)
def test_errors_are_one_line(make, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert run(["generate", "-f", str(make(tmp_path))]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and message in err.splitlines()[0]
    assert "Traceback" not in err and len(err.splitlines()) <= 2


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["generate"]) == 2
    assert "--audit-log" in capsys.readouterr().err
    assert run(["generate", "-f", str(ENRICHED), "--pid", "notanumber"]) == 2


def test_merge_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
            }
        )
    )
    b.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_AARCH64"],
                "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ALLOW"}],
            }
        )
    )
    assert run(["merge", str(a), str(b)]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]
    assert allowed(json.dumps(merged)) == {"read", "write"}
    assert run(["diff", str(a), str(b)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "+ architecture SCMP_ARCH_AARCH64",
        "- architecture SCMP_ARCH_X86_64",
        "+ write",
        "- read",
    ]
    assert run(["diff", str(a), str(a)]) == 0


def test_bad_profile_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": "nope"}')
    assert run(["diff", str(bad), str(bad)]) == 2  # trouble, like diff(1); 1 is "they differ"
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: syscalls must be a list") and "Traceback" not in err
    bad.write_text("not json")
    assert run(["merge", str(bad), str(bad)]) == 1
    assert "not JSON" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("kubectl-seccomp ")
    assert "; census: compiled)" in out
