"""``kubectl seccomp apply deploy/NAME --profile FILE``: install a profile and roll it out, or roll back."""

from __future__ import annotations

from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help="The Deployment: deploy/NAME."),
    profile: str = typer.Option(..., "--profile", "-f", help="The seccomp profile file (JSON)."),
    namespace: Optional[str] = opts.NAMESPACE,
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    containers: Optional[list[str]] = typer.Option(
        None, "--container", "-c", help="Apply to this container (repeatable; default: all, init included)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the patch; change nothing."),
    timeout: str = opts.TIMEOUT,
    image: str = opts.IMAGE,
    agent_namespace: str = opts.AGENT_NAMESPACE,
    seccomp_root: str = opts.SECCOMP_ROOT,
    output: str = opts.OUTPUT,
) -> int:
    """Put a profile on the nodes and point the containers at it; roll back if pods fail."""
    from kubectl_seccomp import render
    from kubectl_seccomp.apply import ApplyOptions, apply
    from kubectl_seccomp.kube.workloads import parse_target

    render.check_format(output)
    name = parse_target(target)
    api, resolved = opts.connect(kubeconfig, context, namespace)
    options = ApplyOptions(
        namespace=resolved.namespace,
        name=name,
        profile_path=profile,
        containers=tuple(containers or ()),
        timeout=opts.duration(timeout, "--timeout") or 300.0,
        dry_run=dry_run,
        node=opts.node_settings(image, agent_namespace, seccomp_root),
    )
    with render.evidence_on_failure():
        result = apply(api, options, render.ConsoleReporter())
    render.apply_summary(result, output)
    return 0
