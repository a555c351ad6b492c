"""``kubectl seccomp record KIND/NAME``: trace a workload, write and apply its profiles."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from kubectl_seccomp.commands import _cluster as cluster
from kubectl_seccomp.commands import _options as opts
from kubectl_seccomp.formats import ProfileFormat


def command(
    target: opts.Target,
    selector: opts.Selector = None,
    namespace: opts.Namespace = None,
    context: opts.Context = None,
    kubeconfig: opts.Kubeconfig = None,
    request_timeout: opts.RequestTimeout = None,
    containers: opts.RecordContainers = None,
    duration: opts.Duration = None,
    idle: opts.Idle = None,
    exec_command: Annotated[
        Optional[str],
        typer.Option(
            "--exec",
            help="Run this local command while tracing; stop when it exits. It gets "
            "KUBECTL_SECCOMP_POD_IPS, KUBECTL_SECCOMP_PODS, KUBECTL_SECCOMP_NAMESPACE in its environment.",
        ),
    ] = None,
    profile_dir: opts.ProfileDir = Path("profiles"),
    profile_format: opts.ProfileFormatOption = ProfileFormat.json,
    no_apply: Annotated[bool, typer.Option("--no-apply", help="Write the profiles, do not apply them.")] = False,
    base_file: Annotated[
        Optional[Path],
        typer.Option(
            "--base",
            help="Record under this profile in complain mode: only calls it does not allow are logged, and each "
            "profile written is this one plus the new calls (updating a profile when the app changes).",
        ),
    ] = None,
    mode: opts.RecordMode = opts.Mode.enforce,
    timeout: opts.RecordTimeout = "5m",
    image: opts.Image = cluster.DEFAULT_IMAGE,
    agent_namespace: opts.AgentNamespace = cluster.DEFAULT_AGENT_NAMESPACE,
    seccomp_root: opts.SeccompRoot = cluster.DEFAULT_SECCOMP_ROOT,
    source: opts.SourceOption = opts.Source.auto,
    log_denials: opts.LogDenials = False,
    include_denied: opts.IncludeDenied = False,
    output: opts.NamedOutputOption = opts.NamedOutput.table,
    node_guard: opts.NodeGuard = True,
    all_nodes: Annotated[
        bool,
        typer.Option(
            "--all-nodes",
            help="Put the log profile and an agent on every node the workload's pods could run on, instead of "
            "only the nodes running them now (plus a spare where its spread needs one), and do not pin the "
            "rollout onto the log profile to those: for when they lack room for the rollout's new pods. "
            "--no-node-guard implies it.",
        ),
    ] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Accept a recording with a gap (a node's agent was lost for a while): write and apply its "
            "profiles and exit 0. Without it such a recording writes NAME-CONTAINER.partial.json, applies "
            "nothing and exits 10.",
        ),
    ] = False,
) -> int:
    """Record the syscalls of a workload's containers and give each a tight profile.

    Deployments, StatefulSets and DaemonSets roll onto a log profile and back;
    a Job or CronJob runs a copy of its template to completion; a bare Pod is
    traced as it runs if it already runs under a log profile. The profiles are
    written to --profile-dir as DIR/NAMESPACE/NAME-CONTAINER.json (.yaml with
    --format spo).
    """
    import dataclasses

    from kubectl_seccomp import render
    from kubectl_seccomp.workflows._common import resolve_names
    from kubectl_seccomp.workflows.record import RecordOptions, check_traced, record

    parsed = cluster.target(target, selector)
    base_profile = None
    if base_file is not None:
        from kubectl_seccomp.profile import Profile

        base_profile = Profile.load(base_file)
        complain = base_profile.in_mode("complain")  # refuses a profile without allow rules
        complain.merge(complain)  # refuses rules other than unconditional allows, before any API call
    seconds = (cluster.duration(duration, "--duration"), cluster.duration(idle, "--idle"))
    rollout_timeout = cluster.duration(timeout, "--timeout") or 300.0
    api, resolved = cluster.connect(kubeconfig, context, namespace, request_timeout)
    base = RecordOptions(
        namespace=resolved.namespace,
        kind=parsed.kind,
        name=parsed.name or "",
        containers=tuple(containers or ()),
        duration=seconds[0],
        idle=seconds[1],
        exec_command=exec_command,
        output_dir=profile_dir,
        profile_format=profile_format,
        apply=not no_apply,
        node_guard=node_guard,
        timeout=rollout_timeout,
        source=source.value,
        log_denials=log_denials,
        include_denied=include_denied,
        mode=mode.value,
        base=base_profile,
        allow_partial=allow_partial,
        all_nodes=all_nodes,
        node=cluster.node_settings(image, agent_namespace, seccomp_root),
    )
    results = []
    reporter = render.ConsoleReporter()
    for name in resolve_names(api, parsed, resolved.namespace):  # with -l: one after the other
        with render.evidence_on_failure():
            results.append(record(api, dataclasses.replace(base, name=name), reporter))
    render.record_summary(results, output.value)
    check_traced(results)  # a container without a profile fails the command, after the summary
    from kubectl_seccomp.workflows.record import PARTIAL_EXIT

    return PARTIAL_EXIT if any(result.partial for result in results) else 0
