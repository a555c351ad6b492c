"""``kubectl seccomp record deploy/NAME``: trace a Deployment, write and apply its profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help="The Deployment: deploy/NAME."),
    namespace: Optional[str] = opts.NAMESPACE,
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    containers: Optional[list[str]] = typer.Option(
        None,
        "--container",
        "-c",
        help="Record only this container (repeatable; default: all, init included).",
    ),
    duration: Optional[str] = typer.Option(None, "--duration", help="Stop after this long (e.g. 30s, 5m)."),
    idle: Optional[str] = typer.Option(
        None, "--idle", help="Stop when no new syscall was seen for this long."
    ),
    exec_command: Optional[str] = typer.Option(
        None,
        "--exec",
        help="Run this local command while tracing; stop when it exits. It gets "
        "KUBECTL_SECCOMP_POD_IPS, KUBECTL_SECCOMP_PODS, KUBECTL_SECCOMP_NAMESPACE in its environment.",
    ),
    output_dir: Path = typer.Option(
        Path("profiles"),
        "--output",
        help="Directory for the profiles: DIR/<namespace>/<deployment>-<container>.json.",
    ),
    no_apply: bool = typer.Option(False, "--no-apply", help="Write the profiles, do not apply them."),
    timeout: str = opts.TIMEOUT,
    image: str = opts.IMAGE,
    agent_namespace: str = opts.AGENT_NAMESPACE,
    seccomp_root: str = opts.SECCOMP_ROOT,
    source: str = typer.Option(
        "auto", "--source", help="Audit source on the nodes: auto, netlink, auditlog, kmsg."
    ),
    log_denials: bool = typer.Option(
        False,
        "--log-denials/--no-log-denials",
        help="Set SECCOMP_FILTER_FLAG_LOG so denied calls are audited (needs a runc that supports seccomp flags).",
    ),
    output: str = typer.Option("table", "-o", "--output-format", help="Summary format: table, json or yaml."),
) -> int:
    """Record the syscalls of a Deployment's containers and give each a tight profile."""
    from kubectl_seccomp import render
    from kubectl_seccomp.kube.workloads import parse_target
    from kubectl_seccomp.record import RecordOptions, record

    render.check_format(output)
    name = parse_target(target)
    api, resolved = opts.connect(kubeconfig, context, namespace)
    options = RecordOptions(
        namespace=resolved.namespace,
        name=name,
        containers=tuple(containers or ()),
        duration=opts.duration(duration, "--duration"),
        idle=opts.duration(idle, "--idle"),
        exec_command=exec_command,
        output_dir=output_dir,
        apply=not no_apply,
        timeout=opts.duration(timeout, "--timeout") or 300.0,
        source=source,
        log_denials=log_denials,
        node=opts.node_settings(image, agent_namespace, seccomp_root),
    )
    reporter = render.ConsoleReporter()
    with render.evidence_on_failure():
        result = record(api, options, reporter)
    render.record_summary(result, output)
    return 0
