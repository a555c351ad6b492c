"""The command line as kubectl users type it, and the spellings of the previous release, turned into
the options the commands define before click parses them.

- ``--dry-run`` alone means ``--dry-run=client``, as in kubectl (whose ``--dry-run`` never takes the
  next word as its value; here the next word is taken only when it is ``none``, ``client`` or
  ``server``). click options take a value always or never, so this is done on the words.
- The previous release's spellings, kept for one release with a one-line note on stderr: ``-o`` and
  ``--output`` were a file (``generate``, ``merge``) or a directory (``record --output``,
  ``record-local -o``), and ``record`` had ``--output-format``. A value that is one of the
  command's output formats is read the new way; anything else the old way.

Nothing here knows a command's other options by name: which words are option values is read from
the command's definition (the click command typer builds), and only when a word to rewrite is there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Optional

from kubectl_seccomp.commands._options import DryRun, NamedOutput
from kubectl_seccomp.formats import ProfileFormat

#: command -> (the new flag an old ``-o/--output VALUE`` stands for, the values that are formats now).
OLD_OUTPUT = {
    "generate": ("--to", {f.value for f in ProfileFormat}),
    "merge": ("--to", {f.value for f in ProfileFormat}),
    "record": ("--profile-dir", {f.value for f in NamedOutput}),
    "record-local": ("--profile-dir", {"table", "json", "yaml"}),
}
#: command -> {old flag: new flag}, renamed outright.
RENAMED = {"record": {"--output-format": "--output"}}
DRY_RUN = "--dry-run"
_CANDIDATES = ("-o", "--output", "--output-format", DRY_RUN)


def normalize(
    argv: Sequence[str], command_of: Callable[[str], Any], warn: Optional[Callable[[str], None]] = None
) -> list[str]:
    """``argv`` with kubectl's bare ``--dry-run`` and the old spellings written the current way.

    ``command_of(name)`` gives the click command of a subcommand (None if there is none), called only
    when a word to rewrite is there; ``warn(line)`` prints a deprecation note (default: on stderr).
    """
    words = list(argv)
    index = _subcommand_index(words)
    if index is None or not any(w.startswith(_CANDIDATES) for w in words[index + 1 :]):
        return words
    name = words[index]
    command = command_of(name)
    if command is None:
        return words
    note = warn or _warn
    out = words[: index + 1]
    rest = words[index + 1 :]
    position = 0
    while position < len(rest):
        word = rest[position]
        position += 1
        if word == "--":
            out += [word, *rest[position:]]
            break
        if not word.startswith("-") or word == "-":
            out.append(word)
            continue
        flag, equals, value = _split(word)
        if flag == DRY_RUN and not equals:
            following = rest[position] if position < len(rest) else None
            if following not in {d.value for d in DryRun}:
                out.append(f"{DRY_RUN}={DryRun.client.value}")
                continue
        renamed = RENAMED.get(name, {}).get(flag)
        if renamed is not None:
            note(f"`{name} {flag}` is deprecated and goes in the next release: use {renamed}")
            flag = renamed
            word = flag + (f"={value}" if equals else "")
        if flag in ("-o", "--output") and name in OLD_OUTPUT:
            attached = value is not None  # --output=VALUE, -oVALUE: one word
            if value is None and position < len(rest):
                value = rest[position]
                position += 1
            new_flag, formats = OLD_OUTPUT[name]
            if value in formats and renamed is None:
                out += [word] if attached else [word, value]
                continue
            if value is not None and value not in formats:
                what = "FILE" if new_flag == "--to" else "DIR"
                note(
                    f"`{name} {flag} {what}` is deprecated and goes in the next release: use {new_flag} {what} "
                    f"(-o is the output format: {', '.join(sorted(formats))})"
                )
                flag = new_flag
            out += [flag] if value is None else [flag, value]
            continue
        out.append(word)
        if not equals and _takes_value(command, flag) and position < len(rest):
            out.append(rest[position])  # the option's value, whatever it looks like
            position += 1
    return out


def _split(word: str) -> tuple[str, str, Optional[str]]:
    """``(flag, "=" or "", value)``; ``-oVALUE`` is ``-o`` with a value, as click reads it."""
    if word.startswith("--"):
        flag, equals, value = word.partition("=")
        return flag, equals, value if equals else None
    if len(word) > 2 and word[1] == "o":
        return "-o", "", word[2:]
    return word, "", None


def _subcommand_index(words: list[str]) -> Optional[int]:
    for index, word in enumerate(words):
        if not word.startswith("-"):
            return index
    return None


def _takes_value(command: Any, flag: str) -> bool:
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and flag in (*param.opts, *param.secondary_opts):
            return not getattr(param, "is_flag", False) and not getattr(param, "count", False)
    return False


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)
