"""Shell completion of ``kubectl seccomp`` through kubectl: the ``kubectl_complete-seccomp`` executable.

kubectl (1.26 and later) completes a plugin's arguments by running ``kubectl_complete-<plugin>`` from
PATH with the words typed after the plugin's name, the last one being the word under the cursor
(often empty), and prints what it answers: one candidate per line, then ``:N``, a cobra completion
directive (bit flags: 2 no space after the candidate, 4 no file names, 8 only files with the
extensions listed as candidates).

Candidates come from the command line itself (the command tree typer builds from
:mod:`kubectl_seccomp.cli`, so they follow every command and flag as defined; read by duck typing,
because typer releases that vendor click build other classes than those that use the click
package), and, for ``deploy/<TAB>``, ``-n <TAB>`` and
``--context <TAB>``, from the kubeconfig and the cluster through :mod:`kubectl_seccomp.kube.names`,
which bounds each call by a short timeout and answers nothing rather than an error. kubectl keeps
its own global flags (``-n``, ``--context``) for itself when it completes a plugin, so the
namespace is the one given after the plugin's name, else the context's.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from typing import Any, Optional

from kubectl_seccomp._click import click

DEFAULT = 0
NO_SPACE = 2
NO_FILE = 4
FILE_EXT = 8

#: Options whose value is a seccomp profile (JSON) file.
PROFILE_OPTIONS = ("--profile",)
#: Options whose value is any file (audit logs have no fixed name or extension).
FILE_OPTIONS = ("audit_logs", "audit_log", "kubeconfig")
#: Arguments that are a workload (``deploy/NAME``).
TARGET_ARGUMENTS = ("target",)
#: Arguments that are profile files.
PROFILE_ARGUMENTS = ("profiles", "old", "new")
CLUSTER_OPTIONS = {"namespace": "--namespace", "context": "--context", "kubeconfig": "--kubeconfig"}


def root_command() -> Any:
    import typer

    from kubectl_seccomp.cli import app

    return typer.main.get_command(app)


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _option_for(command: Any, flag: str) -> Any:
    for param in command.params:
        if _is_option(param) and flag in (*param.opts, *param.secondary_opts):
            return param
    return None


def _takes_value(option: Any) -> bool:
    return not getattr(option, "is_flag", False) and not getattr(option, "count", False)


def _choices(param: Any) -> Optional[list[str]]:
    """The values a choice-typed parameter takes (click.Choice, or typer's type descriptor)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        found = descriptor.choices if getattr(descriptor, "is_choice", False) else None
    else:
        found = getattr(getattr(param, "type", None), "choices", None)
    if found is None:
        return None
    return [str(c.value) if isinstance(c, enum.Enum) else str(c) for c in found]


def _is_path(param: Any) -> bool:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return bool(getattr(descriptor, "is_path", False))
    return isinstance(getattr(param, "type", None), click.Path)


def _flags(command: Any) -> list[str]:
    names: list[str] = []
    for param in command.params:
        if _is_option(param) and not getattr(param, "hidden", False):
            names += [*param.opts, *param.secondary_opts]
    return [*names, "--help"]


def _parse(command: Any, words: Sequence[str]) -> tuple[dict[str, str], int]:
    """Values of the cluster options given in ``words``, and how many positional words there were."""
    given: dict[str, str] = {}
    positional = 0
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            positional += len(words) - index - 1
            break
        if word.startswith("-") and word != "-":
            flag, equals, value = word.partition("=")
            option = _option_for(command, flag)
            if option is not None and _takes_value(option) and not equals and index + 1 < len(words):
                value = words[index + 1]
                index += 1
            if option is not None and option.name in CLUSTER_OPTIONS:
                given[option.name] = value
        else:
            positional += 1
        index += 1
    return given, positional


def _connection(given: dict[str, str]) -> object:
    from kubectl_seccomp.kube.config import ConnectionOptions

    return ConnectionOptions(
        kubeconfig=given.get("kubeconfig"), context=given.get("context"), namespace=given.get("namespace")
    )


def _option_values(option: Any, flag: str, word: str, given: dict[str, str]) -> tuple[list[str], int]:
    choices = _choices(option)
    if choices is not None:
        return [c for c in choices if c.startswith(word)], NO_FILE
    if any(name in PROFILE_OPTIONS for name in option.opts):
        return ["json"], FILE_EXT
    if _is_path(option) or option.name in FILE_OPTIONS:
        return [], DEFAULT
    if option.name == "namespace":
        from kubectl_seccomp.kube.names import namespace_names

        return [n for n in namespace_names(_connection(given)) if n.startswith(word)], NO_FILE  # type: ignore[arg-type]
    if option.name == "context":
        from kubectl_seccomp.kube.names import context_names

        return [n for n in context_names(_connection(given)) if n.startswith(word)], NO_FILE  # type: ignore[arg-type]
    return [], NO_FILE


def _target_values(word: str, given: dict[str, str]) -> tuple[list[str], int]:
    from kubectl_seccomp.targets import REPLICASET, SPELLINGS

    spelling, slash, prefix = word.partition("/")
    if not slash:
        # kubectl's singular, plural and short names; the group-qualified ones are typed, not offered
        offered = sorted(s for s, kind in SPELLINGS.items() if "." not in s and kind != REPLICASET)
        return [f"{s}/" for s in offered if s.startswith(word.lower())], NO_SPACE | NO_FILE
    kind = SPELLINGS.get(spelling.lower())
    if kind is None or kind == REPLICASET:
        return [], NO_FILE
    from kubectl_seccomp.kube.names import workload_names

    names = workload_names(_connection(given), kind)  # type: ignore[arg-type]
    return [f"{spelling}/{name}" for name in names if name.startswith(prefix)], NO_FILE


def complete(args: Sequence[str], root: Any = None) -> tuple[list[str], int]:
    """Candidates and cobra directive for ``kubectl seccomp ARGS`` with the cursor on ``ARGS[-1]``."""
    group = root or root_command()
    words, word = list(args[:-1]), (args[-1] if args else "")
    if not words:  # the subcommand itself
        if word.startswith("-"):
            return [f for f in ("--help", "-h") if f.startswith(word)], NO_FILE
        return [name for name in group.list_commands(click.Context(group)) if name.startswith(word)], NO_FILE
    command = group.get_command(click.Context(group), words[0])
    if command is None:
        return [], NO_FILE
    rest = words[1:]
    given, positional = _parse(command, rest)
    if word.startswith("-") and "=" in word:  # --output=<TAB>
        flag, _, value = word.partition("=")
        option = _option_for(command, flag)
        if option is None or not _takes_value(option):
            return [], NO_FILE
        values, directive = _option_values(option, flag, value, given)
        return [f"{flag}={v}" for v in values], directive
    if rest and rest[-1].startswith("-") and "=" not in rest[-1]:
        option = _option_for(command, rest[-1])
        if option is not None and _takes_value(option):
            return _option_values(option, rest[-1], word, given)
    if word.startswith("-"):
        return [f for f in _flags(command) if f.startswith(word)], NO_FILE
    arguments = [p for p in command.params if _is_argument(p)]
    if not arguments:
        return [], NO_FILE
    argument = arguments[min(positional, len(arguments) - 1)]
    if positional >= len(arguments) and argument.nargs != -1:
        return [], NO_FILE
    if argument.name in TARGET_ARGUMENTS:
        return _target_values(word, given)
    if argument.name in PROFILE_ARGUMENTS:
        return ["json"], FILE_EXT
    return [], DEFAULT


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of ``kubectl_complete-seccomp``: print the candidates and the directive."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        candidates, directive = complete(args)
    except Exception:  # a broken completion must not break the user's shell line
        candidates, directive = [], NO_FILE
    sys.stdout.write("".join(f"{c}\n" for c in candidates) + f":{directive}\n")


if __name__ == "__main__":  # python3 -m kubectl_seccomp.completion WORDS...
    main()
