"""The ``kubectl seccomp`` command line: registers one command per module of
``kubectl_seccomp.commands`` and turns errors into messages and exit codes.

Nothing else lives here. Command modules import the Kubernetes client lazily,
inside the command, so ``--help`` and ``version`` start fast.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import typer

from kubectl_seccomp._click import click
from kubectl_seccomp.commands import (
    apply,
    cleanup,
    diff,
    generate,
    merge,
    record,
    record_local,
    rollback,
    status,
    version,
    watch,
)
from kubectl_seccomp.errors import SeccompError

app = typer.Typer(
    name="kubectl seccomp",
    help="Record the syscalls of a Kubernetes workload and give it a tight seccomp profile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as docs/reference.md shows it: nothing cut at 80 columns
    # Help as wide as the terminal up to 100 columns (click stops at 80), as docs/reference.md shows it.
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
app.command("generate")(generate.command)
app.command("merge")(merge.command)
app.command("diff")(diff.command)
app.command("record")(record.command)
app.command("apply")(apply.command)
app.command("rollback")(rollback.command)
app.command("status")(status.command)
app.command("cleanup")(cleanup.command)
app.command("watch")(watch.command)
app.command("record-local")(record_local.command)
app.command("version")(version.command)


def report_error(error: SeccompError) -> None:
    """Print an expected error as one line, and its hint as a second one."""
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def subcommand(name: str) -> object:
    """The click command typer builds for the subcommand ``name`` (None if there is none)."""
    group = typer.main.get_command(app)
    return group.get_command(click.Context(group), name)  # type: ignore[attr-defined]


def run(argv: Optional[list[str]] = None) -> int:
    """Run the command line ``argv``; return the exit code. Never raises."""
    from kubectl_seccomp.commands._spellings import normalize

    try:
        argv = normalize(sys.argv[1:] if argv is None else argv, subcommand)
        result = app(args=argv, prog_name="kubectl seccomp", standalone_mode=False)
    except SeccompError as error:
        report_error(error)
        return error.exit_code
    except typer.Abort:  # click's Abort, or typer's own where typer vendors click
        print("error: interrupted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except click.UsageError as error:
        # kubectl's form: one line saying what is wrong, one saying where help is (click prints four).
        command = error.ctx.command_path if error.ctx is not None else "kubectl seccomp"
        print(f"error: {error.format_message()}", file=sys.stderr)
        print(f"hint: see '{command} --help'", file=sys.stderr)
        return error.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug: still one line, traceback on request
        if os.environ.get("KUBECTL_SECCOMP_DEBUG"):
            raise
        print(f"error: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print("hint: run again with KUBECTL_SECCOMP_DEBUG=1 for a traceback, and report it", file=sys.stderr)
        return 70
    if result == 130:  # typer's answer to a KeyboardInterrupt the command did not turn into an error
        print("error: interrupted", file=sys.stderr)
    return result if isinstance(result, int) else 0


def main() -> None:
    code = run()
    # The work is done and its exit code decided: a Ctrl-C from now on (while
    # the interpreter winds down) must not turn it into death by SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)
