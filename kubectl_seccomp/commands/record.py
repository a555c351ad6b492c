"""``kubectl seccomp record KIND/NAME``: trace a workload, write and apply its profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help=opts.TARGET_HELP),
    selector: Optional[str] = opts.SELECTOR,
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
        help="Directory for the profiles: DIR/<namespace>/<name>-<container>.json.",
    ),
    no_apply: bool = typer.Option(False, "--no-apply", help="Write the profiles, do not apply them."),
    base_file: Optional[Path] = typer.Option(
        None,
        "--base",
        help="Record under this profile in complain mode: only calls it does not allow are logged, "
        "and each profile written is this one plus the new calls (updating a profile when the app changes).",
    ),
    mode: str = typer.Option("enforce", "--mode", help="How the recorded profiles are applied. " + opts.MODE_HELP),
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
    include_denied: bool = typer.Option(
        False,
        "--include-denied",
        help="Also allow calls that a filter denied while recording (left out by default, as in generate).",
    ),
    output: str = typer.Option("table", "-o", "--output-format", help="Summary format: table, json or yaml."),
    node_guard: bool = opts.NODE_GUARD,
    allow_partial: bool = typer.Option(
        False,
        "--allow-partial",
        help="Accept a recording with a gap (a node's agent was lost for a while): write and apply its "
        "profiles and exit 0. Without it such a recording writes NAME-CONTAINER.partial.json, applies "
        "nothing and exits 10.",
    ),
) -> int:
    """Record the syscalls of a workload's containers and give each a tight profile.

    Deployments, StatefulSets and DaemonSets roll onto a log profile and back;
    a Job or CronJob runs a copy of its template to completion; a bare Pod is
    traced as it runs if it already runs under a log profile.
    """
    import dataclasses

    from kubectl_seccomp import render
    from kubectl_seccomp.workflows._common import resolve_names
    from kubectl_seccomp.workflows.record import RecordOptions, record

    render.check_format(output)
    parsed = opts.target(target, selector)
    base_profile = None
    if base_file is not None:
        from kubectl_seccomp.profile import Profile

        base_profile = Profile.load(base_file)
        complain = base_profile.in_mode("complain")  # refuses a profile without allow rules
        complain.merge(complain)  # refuses rules other than unconditional allows, before any API call
    seconds = (opts.duration(duration, "--duration"), opts.duration(idle, "--idle"))
    rollout_timeout = opts.duration(timeout, "--timeout") or 300.0
    api, resolved = opts.connect(kubeconfig, context, namespace)
    base = RecordOptions(
        namespace=resolved.namespace,
        kind=parsed.kind,
        name=parsed.name or "",
        containers=tuple(containers or ()),
        duration=seconds[0],
        idle=seconds[1],
        exec_command=exec_command,
        output_dir=output_dir,
        apply=not no_apply,
        node_guard=node_guard,
        timeout=rollout_timeout,
        source=source,
        log_denials=log_denials,
        include_denied=include_denied,
        mode=opts.mode(mode) or "enforce",
        base=base_profile,
        allow_partial=allow_partial,
        node=opts.node_settings(image, agent_namespace, seccomp_root),
    )
    results = []
    reporter = render.ConsoleReporter()
    for name in resolve_names(api, parsed, resolved.namespace):  # with -l: one after the other
        with render.evidence_on_failure():
            results.append(record(api, dataclasses.replace(base, name=name), reporter))
    render.record_summary(results, output)
    from kubectl_seccomp.workflows.record import PARTIAL_EXIT

    return PARTIAL_EXIT if any(result.partial for result in results) else 0
