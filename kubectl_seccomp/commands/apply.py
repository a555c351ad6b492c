"""``kubectl seccomp apply KIND/NAME --profile FILE``: install a profile and roll it out, or roll back."""

from __future__ import annotations

from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help=opts.TARGET_HELP),
    selector: Optional[str] = opts.SELECTOR,
    profile: str = typer.Option(..., "--profile", "-f", help="The seccomp profile file (JSON)."),
    namespace: Optional[str] = opts.NAMESPACE,
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    containers: Optional[list[str]] = typer.Option(
        None, "--container", "-c", help="Apply to this container (repeatable; default: all, init included)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the patch; change nothing."),
    mode: Optional[str] = typer.Option(
        None, "--mode", help=opts.MODE_HELP + " Default: the file's own defaultAction."
    ),
    log_denials: bool = typer.Option(
        False,
        "--log-denials",
        help="Enforce mode: set SECCOMP_FILTER_FLAG_LOG so the kernel logs denied calls for `watch` "
        "(needs a runtime that takes seccomp flags: runc >= 1.2, crun).",
    ),
    timeout: str = opts.TIMEOUT,
    image: str = opts.IMAGE,
    agent_namespace: str = opts.AGENT_NAMESPACE,
    seccomp_root: str = opts.SECCOMP_ROOT,
    output: str = opts.OUTPUT,
    node_guard: bool = opts.NODE_GUARD,
    sync: bool = typer.Option(
        False,
        "--sync",
        help="Also keep the profile on nodes that join later: the DaemonSet kubectl-seccomp-sync in the agent "
        "namespace writes it on every node and labels the node (for autoscaled node pools; "
        "`cleanup` removes it).",
    ),
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

    render.check_format(output)
    checked_mode = opts.mode(mode)
    if log_denials and checked_mode == "complain":
        raise UsageError("--log-denials is for enforce mode", hint="complain mode logs what it would deny anyway")
    parsed = opts.target(target, selector)
    rollout_timeout = opts.duration(timeout, "--timeout") or 300.0
    api, resolved = opts.connect(kubeconfig, context, namespace)
    base = ApplyOptions(
        namespace=resolved.namespace,
        kind=parsed.kind,
        name=parsed.name or "",
        profile_path=profile,
        containers=tuple(containers or ()),
        timeout=rollout_timeout,
        dry_run=dry_run,
        node_guard=node_guard,
        mode=checked_mode,
        log_denials=log_denials,
        sync=sync,
        node=opts.node_settings(image, agent_namespace, seccomp_root),
    )
    results = []
    for name in resolve_names(api, parsed, resolved.namespace):
        with render.evidence_on_failure():
            results.append(apply(api, dataclasses.replace(base, name=name), render.ConsoleReporter()))
    render.apply_summary(results, output)
    return 0
