"""Every ``kubectl seccomp ...`` example in README.md and docs/ uses commands and flags that exist,
and the offline ones (generate, merge, diff, version) run.

Examples are taken from code blocks (fenced and indented) and inline code spans; synopsis lines
(``[--flag VALUE]``, ``a|b``) count for the flag check. Offline examples run with their files
replaced by test inputs (the audit log fixture, profiles generated from it, a scratch output path)
and their ``--pid``/``--comm`` by a process of that fixture, so a renamed or removed flag fails here
whatever the docs say around it. docs/reference.md is generated from the CLI and skipped.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.dist.conftest import FIXTURE_LOG, ROOT

DOCS = sorted([ROOT / "README.md", *(p for p in (ROOT / "docs").glob("*.md") if p.name != "reference.md")])
OFFLINE = {"generate", "merge", "diff", "version"}
FIXTURE_PID, FIXTURE_COMM = "7116", "python3"
#: Where a command starts: the line's start, after a shell prompt, sudo or environment assignments.
START = re.compile(r"^(?:\$\s+)?(?:sudo\s+)?(?:[A-Z_]+=\S*\s+)*kubectl seccomp\b")
SPAN = re.compile(r"`([^`\n]*kubectl seccomp[^`\n]*)`")


def code_lines(text: str) -> list[tuple[str, bool]]:
    """Lines of code blocks (continuations joined; True) and inline code spans (False) of a Markdown file."""
    found: list[tuple[str, bool]] = []
    fenced = False
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            joined = pending + line.strip()
            if joined.endswith("\\"):
                pending = joined[:-1].rstrip() + " "
                continue
            pending = ""
            found.append((joined, True))
        else:
            found += [(span, False) for span in SPAN.findall(line)]
    return found


def examples(text: str) -> list[str]:
    """The ``kubectl seccomp ...`` commands in ``text``'s code, each cut at comments and pipes."""
    commands = []
    names = set(command_names())
    for line, block in code_lines(text):
        match = START.match(line.strip())
        if match is None:
            continue
        rest = line.strip()[match.end() :]
        rest = re.split(r"\s#\s|\s\|\s|\s>\s|;|&&|\)\s|`|\s{3,}\(", rest)[0].strip()
        if "<TAB>" in rest or rest.startswith("..."):
            continue
        if not block and rest.split(" ")[0] not in names:  # prose quoting a message, not a command
            continue
        commands.append(rest)
    return commands


def words(example: str) -> list[str]:
    cleaned = example.replace("[", " ").replace("]", " ")
    try:
        return shlex.split(cleaned)
    except ValueError:  # an argument quoted across lines: the words before it still count
        return cleaned.split()


def command_names() -> list[str]:
    from kubectl_seccomp._click import click

    group = root_command()
    return list(group.list_commands(click.Context(group)))


def root_command() -> Any:
    from kubectl_seccomp.completion import root_command as root

    return root()


def all_examples() -> list[tuple[str, str]]:
    return [(path.relative_to(ROOT).as_posix(), e) for path in DOCS for e in examples(path.read_text("utf-8"))]


EXAMPLES = all_examples()


def test_the_docs_have_examples() -> None:
    commands = {words(e)[0] for _, e in EXAMPLES if words(e)}
    assert {"record", "apply", "generate", "merge", "diff", "status", "version", "record-local"} <= commands


@pytest.mark.parametrize(("doc", "example"), EXAMPLES, ids=[f"{d}:{e[:50]}" for d, e in EXAMPLES])
def test_example_uses_known_commands_and_flags(doc: str, example: str) -> None:
    import typer  # noqa: F401  (the command tree needs it)

    from kubectl_seccomp._click import click

    group = root_command()
    tokens = words(example)
    if not tokens or tokens[0] in ("-h", "--help"):
        return
    command = group.get_command(click.Context(group), tokens[0])
    assert command is not None, f"{doc}: `kubectl seccomp {example}`: no command {tokens[0]!r}"
    known = {"-h", "--help"}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            known.update(param.opts, param.secondary_opts)
    for token in tokens[1:]:
        if token == "--":  # what follows is the user's command (record-local)
            break
        for alternative in token.split("|"):
            flag = alternative.split("=", 1)[0]
            if flag.startswith("-") and len(flag) > 1 and not flag[1:].isdigit():
                assert flag in known, f"{doc}: `kubectl seccomp {example}`: {tokens[0]} has no flag {flag}"


def runnable(example: str) -> bool:
    """Offline, not a synopsis, and more than a command's name (except ``version``, which is complete)."""
    tokens = words(example)
    if not tokens or tokens[0] not in OFFLINE or "[" in example or "..." in example:
        return False
    return len(tokens) > 1 or tokens[0] == "version"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("doc-examples")
    profiles = {}
    for name, selection in (("first", ["--pid", "7116"]), ("second", ["--pid", "7117", "--include-denied"])):
        out = base / f"{name}.json"
        result = subprocess.run(
            [sys.executable, "-m", "kubectl_seccomp", "generate", "-f", str(FIXTURE_LOG), *selection, "--to", str(out)],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        profiles[name] = out
    return {**profiles, "out": base / "out" / "profile.json"}


def substituted(tokens: list[str], inputs: dict[str, Path]) -> list[str]:
    """``tokens`` with files and process filters replaced by the test's inputs."""
    result: list[str] = []
    profiles = iter([inputs["first"], inputs["second"]] * 4)
    previous = ""
    for token in tokens:
        if previous in ("-f", "--audit-log"):
            token = str(FIXTURE_LOG)
        elif previous == "--to":
            token = str(inputs["out"])
        elif previous in ("-p", "--pid"):
            token = FIXTURE_PID
        elif previous == "--comm":
            token = FIXTURE_COMM
        elif token.endswith(".json") and not token.startswith("-"):
            token = str(next(profiles))
        result.append(token)
        previous = token
    return result


@pytest.mark.parametrize(
    ("doc", "example"),
    [(d, e) for d, e in EXAMPLES if runnable(e)],
    ids=[f"{d}:{e[:50]}" for d, e in EXAMPLES if runnable(e)],
)
def test_offline_example_runs(doc: str, example: str, inputs: dict[str, Path]) -> None:
    argv = substituted(words(example), inputs)
    result = subprocess.run(
        [sys.executable, "-m", "kubectl_seccomp", *argv], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode in (0, 1) if argv[0] == "diff" else result.returncode == 0, (
        f"{doc}: `kubectl seccomp {example}` ran as {argv}: {result.returncode}\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr and "No such option" not in result.stderr
    assert "deprecated" not in result.stderr, f"{doc}: `kubectl seccomp {example}` uses an old spelling"


def test_the_checks_catch_unknown_commands_and_flags() -> None:
    sample = (
        "Run `kubectl seccomp generate -f a.log --bogus` or:\n\n```sh\n"
        "$ sudo kubectl seccomp record-local -o out -- podman run --rm x \\\n  --security-opt y\n"
        "kubectl seccomp recrod deploy/web   # a typo\n```\n"
    )
    found = examples(sample)
    assert found == ["generate -f a.log --bogus", "record-local -o out -- podman run --rm x --security-opt y",
                     "recrod deploy/web"]  # fmt: skip
    with pytest.raises(AssertionError, match="generate has no flag --bogus"):
        test_example_uses_known_commands_and_flags("sample.md", found[0])
    test_example_uses_known_commands_and_flags("sample.md", found[1])  # podman's flags are not ours
    with pytest.raises(AssertionError, match="no command 'recrod'"):
        test_example_uses_known_commands_and_flags("sample.md", found[2])
