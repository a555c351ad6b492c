"""The flags mean what they mean in kubectl: ``-o`` is the output format everywhere, files and
directories have their own flags, enum-typed values are checked by the parser, ``--dry-run`` takes
kubectl's values, the previous release's spellings still work with a one-line note, and ``--help``
shows every argument's help and every default whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_seccomp import render
from kubectl_seccomp.cli import run, subcommand
from kubectl_seccomp.commands._spellings import normalize
from kubectl_seccomp.completion import root_command
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.targets import DAEMONSET, DEPLOYMENT, POD, object_name
from kubectl_seccomp.workflows.status import status
from tests.dist.conftest import FIXTURE_LOG
from tests.kube.fake import FakeKube, web_deployment


def normalized(*argv: str) -> tuple[list[str], list[str]]:
    notes: list[str] = []
    return normalize(list(argv), subcommand, notes.append), notes


# -- kubectl's bare --dry-run ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ("apply deploy/web -f p.json --dry-run", "apply deploy/web -f p.json --dry-run=client"),
        ("apply --dry-run deploy/web -f p.json", "apply --dry-run=client deploy/web -f p.json"),
        ("apply deploy/web --dry-run server -f p.json", "apply deploy/web --dry-run server -f p.json"),
        ("apply deploy/web --dry-run=none", "apply deploy/web --dry-run=none"),
    ],
)
def test_dry_run_alone_means_client(argv: str, expected: str) -> None:
    assert normalized(*argv.split()) == (expected.split(), [])


def test_dry_run_values_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["apply", "deploy/web", "-f", "p.json", "--dry-run=bogus"]) == 2
    assert "'bogus' is not one of 'none', 'client', 'server'" in capsys.readouterr().err


# -- the old spellings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected", "note"),
    [
        ("generate -f a.log -o out.json", "generate -f a.log --to out.json", "generate -o FILE"),
        ("generate -f a.log --output=out.json", "generate -f a.log --to out.json", "generate --output FILE"),
        ("generate -f a.log -oout.json", "generate -f a.log --to out.json", "generate -o FILE"),
        ("merge a.json b.json -o m.json", "merge a.json b.json --to m.json", "merge -o FILE"),
        ("record deploy/web --output profs", "record deploy/web --profile-dir profs", "record --output DIR"),
        ("record deploy/web --output-format yaml", "record deploy/web --output yaml", "record --output-format"),
        ("record-local -o out -- podman x", "record-local --profile-dir out -- podman x", "record-local -o DIR"),
    ],
)
def test_old_spellings_still_work_with_a_note(argv: str, expected: str, note: str) -> None:
    words, notes = normalized(*argv.split())
    assert words == expected.split()
    assert len(notes) == 1 and f"`{note}` is deprecated" in notes[0] and "next release" in notes[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "-f", "a.log", "-o", "spo"],
        ["generate", "-f", "a.log", "--output=json"],
        ["merge", "a.json", "b.json", "-o", "spo", "--to", "m.yaml"],
        ["record", "deploy/web", "-o", "json", "--profile-dir", "p"],
        ["record", "deploy/web", "--output", "name"],
        ["status", "-o", "yaml"],
        ["record-local", "-o", "json", "--", "podman", "run", "-o", "x"],  # after --: the user's command
        ["record", "deploy/web", "--exec", "-o", "-o", "json"],  # --exec's value is not a flag
        ["version"],
    ],
)
def test_the_new_spellings_are_left_alone(argv: list[str]) -> None:
    assert normalized(*argv) == (argv, [])


def test_a_deprecated_spelling_runs_and_warns_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "old.json"
    assert run(["generate", "-f", str(FIXTURE_LOG), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert json.loads(out.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"
    assert [line for line in err.splitlines() if line.startswith("warning: ")] == [
        "warning: `generate -o FILE` is deprecated and goes in the next release: use --to FILE "
        "(-o is the output format: json, spo)"
    ]


# -- -o is the output format --------------------------------------------------------------------


def test_generate_o_is_the_profile_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["generate", "-f", str(FIXTURE_LOG), "-o", "spo", "--name", "web"]) == 0
    resource = yaml.safe_load(capsys.readouterr().out)
    assert resource["kind"] == "SeccompProfile" and resource["metadata"]["name"] == "web"
    assert run(["generate", "-f", str(FIXTURE_LOG), "--format", "json"]) == 0  # the same option, spelled so too
    assert json.loads(capsys.readouterr().out)["defaultAction"] == "SCMP_ACT_ERRNO"


def test_merge_writes_to_a_file_with_to(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "a.json"
    assert run(["generate", "-f", str(FIXTURE_LOG), "--to", str(profile)]) == 0
    merged = tmp_path / "merged.yaml"
    assert run(["merge", str(profile), str(profile), "-o", "spo", "--to", str(merged)]) == 0
    assert capsys.readouterr().out == ""
    assert yaml.safe_load(merged.read_text())["metadata"]["name"] == "merged"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["status", "-o", "wide"], "'--output' / '-o'"),
        (["cleanup", "-o", "name"], "'--output' / '-o'"),
        (["watch", "deploy/web", "-o", "yaml"], "'--output' / '-o'"),
        (["record", "deploy/web", "--source", "ebpf"], "'--source'"),
        (["apply", "deploy/web", "-f", "p.json", "--mode", "audit"], "'--mode'"),
        (["record", "deploy/web", "--format", "raw"], "'--format'"),
    ],
)
def test_enum_options_are_checked_before_anything_runs(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert f"Invalid value for {flag}" in err and "Traceback" not in err


def test_version_like_kubectl(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["version", "--client"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("kubectl-seccomp ")
    assert run(["version", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["clientVersion"]
    assert line.split()[1] == data["gitVersion"].lstrip("v") and data["census"] in line
    assert run(["version", "--client", "-o", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["clientVersion"] == data


def test_o_name_prints_kind_group_name_once_each(capsys: pytest.CaptureFixture[str]) -> None:
    kube = FakeKube()
    kube.add_deployment("shop", web_deployment(replicas=1))
    report = status(kube, namespace="shop", name=None, settings=NodeSettings(), check_nodes=False, reporter=_Quiet())
    render.status_table(report, "name")
    assert capsys.readouterr().out == "deployment.apps/web\n"
    render.names([(DEPLOYMENT, "web"), (DAEMONSET, "agent"), (DEPLOYMENT, "web"), (POD, "solo")])
    assert capsys.readouterr().out == "deployment.apps/web\ndaemonset.apps/agent\npod/solo\n"
    assert object_name("CronJob", "nightly") == "cronjob.batch/nightly"


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


# -- one name for files and directories, in every command -------------------------------------


def _options(command: Any) -> dict[str, Any]:
    found = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            for flag in (*param.opts, *param.secondary_opts):
                found[flag] = param
    return found


def test_files_and_directories_have_their_own_flags_in_every_command() -> None:
    group = root_command()
    from kubectl_seccomp._click import click

    context = click.Context(group)
    for name in group.list_commands(context):
        options = _options(group.get_command(context, name))
        if "--output" in options:  # a format, never a path
            assert options["--output"].name in ("output", "form"), name
            assert _choices_of(options["--output"]), f"{name} -o takes any value"
        assert "--output-format" not in options, name
    assert "--to" in _options(group.get_command(context, "generate"))
    assert "--to" in _options(group.get_command(context, "merge"))
    assert "--profile-dir" in _options(group.get_command(context, "record"))
    assert "--profile-dir" in _options(group.get_command(context, "record-local"))


def _choices_of(param: Any) -> list[str]:
    descriptor = getattr(param, "type_descriptor", None)
    found = descriptor.choices if descriptor is not None else getattr(param.type, "choices", None)
    return [str(getattr(c, "value", c)) for c in found or ()]


def test_shared_options_have_help_that_fits_each_command() -> None:
    group = root_command()
    from kubectl_seccomp._click import click

    context = click.Context(group)
    helps = {
        name: _options(group.get_command(context, name))["--timeout"].help
        for name in ("apply", "record", "rollback", "watch")
    }
    assert "rolled back" in helps["apply"] and "rolled back" not in helps["rollback"]
    assert "--apply" in helps["watch"] and "log profile" in helps["record"]
    assert len(set(helps.values())) == 4


# -- --help shows what the reference shows ------------------------------------------------------


COMMANDS = ["generate", "merge", "diff", "record", "apply", "rollback", "status", "cleanup", "watch", "record-local",
            "version"]  # fmt: skip


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_argument_help_and_whole_defaults_at_80_columns(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert run([name, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "…" not in shown  # rich's table cut long words at 80 columns; plain help wraps them
    assert max(len(line) for line in shown.splitlines()) <= 80
    command = subcommand(name)
    for param in command.params:
        if getattr(param, "param_type_name", "") == "argument" and getattr(param, "help", None):
            first_words = " ".join(param.help.split()[:3])
            assert first_words in re.sub(r"\s+", " ", shown), f"{name} --help lacks {param.name}'s help"
        default = getattr(param, "default", None)
        if getattr(param, "show_default", True) and isinstance(default, str) and default:
            assert f"[default: {default}]" in re.sub(r"\s+", " ", shown) or default in shown, (name, default)


def test_command_modules_keep_their_annotations_as_objects() -> None:
    """On Python 3.9 typer reads ``inspect.signature`` without evaluating strings: a command module
    with ``from __future__ import annotations`` would lose every Annotated option there."""
    import inspect

    from kubectl_seccomp.cli import app

    for info in app.registered_commands:
        for param in inspect.signature(info.callback).parameters.values():  # type: ignore[arg-type]
            assert not isinstance(param.annotation, str), f"{info.name}: {param.name} is annotated by a string"
