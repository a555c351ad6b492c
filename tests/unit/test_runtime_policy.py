"""What a recorded profile allows beyond what was seen, shared by record and record-local."""

from __future__ import annotations

from kubectl_seccomp.runtime_policy import GO_RUNTIME, additions


def test_signal_return_and_exit_on_the_observed_arches_only() -> None:
    extra = additions([("x86_64", "read")], [])
    assert extra == {("x86_64", "rt_sigreturn"), ("x86_64", "exit"), ("x86_64", "exit_group")}


def test_runc_init_calls_and_go_runtime_when_runc_was_seen() -> None:
    extra = additions([("x86_64", "read")], [("x86_64", "capset"), ("aarch64", "setgroups")])
    assert ("x86_64", "capset") in extra
    assert ("aarch64", "setgroups") not in extra  # not an arch this container ran on
    assert {("x86_64", name) for name in GO_RUNTIME} <= extra
    assert "futex" not in {name for _arch, name in additions([("x86_64", "read")], [])}
