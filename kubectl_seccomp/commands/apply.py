"""``kubectl seccomp apply KIND/NAME --profile FILE``: install a profile and roll it out, or roll back."""

from typing import Annotated

import typer

from kubectl_seccomp.commands import _cluster as cluster
from kubectl_seccomp.commands import _options as opts
from kubectl_seccomp.commands._profiles import Strict


def command(
    target: opts.Target,
    profile: Annotated[str, typer.Option("--profile", "-f", help="The seccomp profile file (JSON).")],
    selector: opts.Selector = None,
    namespace: opts.Namespace = None,
    context: opts.Context = None,
    kubeconfig: opts.Kubeconfig = None,
    request_timeout: opts.RequestTimeout = None,
    containers: opts.ApplyContainers = None,
    dry_run: opts.DryRunOption = opts.DryRun.none,
    mode: opts.ApplyMode = None,
    log_denials: Annotated[
        bool,
        typer.Option(
            "--log-denials",
            help="Enforce mode: set SECCOMP_FILTER_FLAG_LOG so the kernel logs denied calls for `watch` "
            "(needs a runtime that takes seccomp flags: runc >= 1.2, crun).",
        ),
    ] = False,
    timeout: opts.ApplyTimeout = "5m",
    image: opts.Image = cluster.DEFAULT_IMAGE,
    agent_namespace: opts.AgentNamespace = cluster.DEFAULT_AGENT_NAMESPACE,
    seccomp_root: opts.SeccompRoot = cluster.DEFAULT_SECCOMP_ROOT,
    output: opts.NamedOutputOption = opts.NamedOutput.table,
    node_guard: opts.NodeGuard = True,
    strict: Strict = False,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="Also keep the profile on nodes that join later: the DaemonSet kubectl-seccomp-sync in the agent "
            "namespace writes it on every node and labels the node (for autoscaled node pools; "
            "`cleanup` removes it).",
        ),
    ] = False,
) -> int:
    """Put a profile on the nodes and point the containers at it; roll back if pods fail.

    A CronJob's jobTemplate is patched (its next Job uses the profile); a Job
    or bare Pod cannot change, so the profile is installed and the patched
    manifest printed. With --sync a DaemonSet keeps the profile on every
    node, including nodes that join later.
    """
    import dataclasses

    from kubectl_seccomp import render
    from kubectl_seccomp.errors import UsageError
    from kubectl_seccomp.workflows._common import resolve_names
    from kubectl_seccomp.workflows.apply import ApplyOptions, apply

    checked_mode = mode.value if mode is not None else None
    if log_denials and checked_mode == "complain":
        raise UsageError("--log-denials is for enforce mode", hint="complain mode logs what it would deny anyway")
    parsed = cluster.target(target, selector)
    rollout_timeout = cluster.duration(timeout, "--timeout") or 300.0
    api, resolved = cluster.connect(kubeconfig, context, namespace, request_timeout)
    base = ApplyOptions(
        namespace=resolved.namespace,
        kind=parsed.kind,
        name=parsed.name or "",
        profile_path=profile,
        containers=tuple(containers or ()),
        timeout=rollout_timeout,
        dry_run=dry_run is not opts.DryRun.none,
        server_dry_run=dry_run is opts.DryRun.server,
        node_guard=node_guard,
        mode=checked_mode,
        log_denials=log_denials,
        strict=strict,
        sync=sync,
        node=cluster.node_settings(image, agent_namespace, seccomp_root),
    )
    results = []
    for name in resolve_names(api, parsed, resolved.namespace):
        with render.evidence_on_failure():
            results.append(apply(api, dataclasses.replace(base, name=name), render.ConsoleReporter()))
    render.apply_summary(results, output.value)
    return 0
