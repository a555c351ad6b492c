"""The agent's command line: ``follow``, ``install``, ``remove``, ``sync``, ``handover``.

``follow`` prints the JSON-lines protocol of :mod:`kubectl_seccomp.agent.events`
on stdout; a fatal error becomes an ``error`` event and exit code 1.
``install``/``remove`` manage profile files (:mod:`kubectl_seccomp.agent.profiles`);
``sync`` installs a whole payload and labels the node (:mod:`kubectl_seccomp.agent.sync`);
``handover`` installs the profiles ``record`` hands to a running agent (:mod:`kubectl_seccomp.agent.handover`);
they report a refusal as one ``error: ...`` line on stderr, exit code 1.
Argument mistakes exit 2 (argparse). This is the only place errors become exit
codes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional

from kubectl_seccomp.agent import handover, sync
from kubectl_seccomp.agent.attribution import Attributor, ProcConnector
from kubectl_seccomp.agent.events import EventWriter
from kubectl_seccomp.agent.follow import Follower
from kubectl_seccomp.agent.profiles import DEFAULT_ROOT, install_profile, remove_profile
from kubectl_seccomp.agent.sources import DEFAULT_AUDIT_LOG, SOURCES, enter_host_network_namespace, open_source
from kubectl_seccomp.agent.tally import TallyWriter
from kubectl_seccomp.errors import AgentError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl-seccomp-agent",
        description="Follow SECCOMP audit records on this node, or manage profile files.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    follow = commands.add_parser("follow", help="print first sightings of syscalls per container (JSON lines)")
    follow.add_argument("--source", choices=SOURCES, default="auto")
    follow.add_argument(
        "--audit-log", default=DEFAULT_AUDIT_LOG, help="auditd's log for --source auditlog ('-' reads stdin)"
    )
    follow.add_argument(
        "--container",
        action="append",
        default=[],
        metavar="ID",
        help="report only this container (64-hex id, or a unique prefix of one); repeatable",
    )
    follow.add_argument("--interval", type=float, default=2.0, help="seconds between counters events")
    follow.add_argument(
        "--tally",
        action="store_true",
        help="count every call per process and report counts and times (for watch), not only first sightings",
    )
    follow.add_argument("--proc", default="/proc", help="the host's /proc")
    follow.add_argument(
        "--no-proc-connector",
        action="store_true",
        help="do not track process creation (short-lived processes may go unattributed)",
    )
    for name, text in (("install", "install a profile (JSON on stdin)"), ("remove", "remove a profile")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--root", default=DEFAULT_ROOT)
        command.add_argument("name", help="path of the profile file, relative to the root")
    handed = commands.add_parser(
        "handover", help="install the profiles of each new request in a file (record's recorded profiles)"
    )
    handed.add_argument("--root", default=DEFAULT_ROOT)
    handed.add_argument("--request", required=True, help="the file holding the request (a downward API file)")
    sync = commands.add_parser(
        "sync", help="install every profile of a payload index, label this node, wait (the sync DaemonSet)"
    )
    sync.add_argument("--root", default=DEFAULT_ROOT)
    sync.add_argument("--payload", required=True, help="directory holding the verified payload keys")
    sync.add_argument("--index", required=True, help="JSON {profile path: {key, label}}")
    sync.add_argument("--ready-file", help="create this file once the node is labelled (a readiness probe's)")
    sync.add_argument("--once", action="store_true", help="exit after labelling instead of waiting")
    return parser


def _node_name() -> str:
    return os.environ.get("NODE_NAME") or os.uname().nodename


def _follow(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    writer = EventWriter(out)
    try:
        containers = [c.lower() for c in args.container]
        for container in containers:
            if not re.fullmatch(r"[0-9a-f]{1,64}", container):
                raise AgentError(f"--container {container!r} is not a container id")
        if args.interval <= 0:
            raise AgentError("--interval must be positive")
        if args.source in ("auto", "netlink"):  # records reach the initial network namespace only
            why_not = enter_host_network_namespace(args.proc)
            if why_not is not None:
                print(f"warning: {why_not}; audit records may not reach this agent", file=sys.stderr)
        source = open_source(args.source, args.audit_log, args.proc)
    except AgentError as error:
        writer.error(_message(error))
        return 1
    connector: Optional[ProcConnector] = None
    if not args.no_proc_connector:
        try:
            connector = ProcConnector()
        except AgentError as error:
            print(f"warning: {error.message}; short-lived processes may go unattributed", file=sys.stderr)
    attributor = Attributor(args.proc, connector)
    if args.tally:
        writer = TallyWriter(out)
    elif containers:
        writer = EventWriter(out, containers)
    follower = Follower(source, attributor, writer, args.interval)
    follower.install_signal_handlers()
    writer.start(source.name, _node_name())
    try:
        follower.run()
    except AgentError as error:
        writer.error(_message(error))
        return 1
    finally:
        source.close()
        if connector is not None:
            connector.close()
    return 0


def _message(error: AgentError) -> str:
    return f"{error.message} (hint: {error.hint})" if error.hint else error.message


def _install(args: argparse.Namespace) -> int:
    path = install_profile(args.root, args.name, sys.stdin.buffer.read())
    print(path)
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not remove_profile(args.root, args.name):
        print(f"{args.name}: not installed", file=sys.stderr)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "follow":
            return _follow(args)
        if args.command == "install":
            return _install(args)
        if args.command == "handover":
            return handover.watch(args.root, args.request)
        if args.command == "sync":
            return sync.run(
                args.root, args.payload, args.index, _node_name(), ready_file=args.ready_file, stay=not args.once
            )
        return _remove(args)
    except AgentError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
