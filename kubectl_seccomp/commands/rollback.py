"""``kubectl seccomp rollback deploy/NAME``: back to the settings before kubectl seccomp."""

from __future__ import annotations

from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help="The Deployment: deploy/NAME."),
    namespace: Optional[str] = opts.NAMESPACE,
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    timeout: str = opts.TIMEOUT,
    output: str = opts.OUTPUT,
) -> int:
    """Restore the seccomp settings saved when kubectl seccomp first changed the Deployment."""
    from kubectl_seccomp import render
    from kubectl_seccomp.apply import rollback
    from kubectl_seccomp.kube.workloads import parse_target

    render.check_format(output)
    name = parse_target(target)
    api, resolved = opts.connect(kubeconfig, context, namespace)
    result = rollback(
        api,
        namespace=resolved.namespace,
        name=name,
        timeout=opts.duration(timeout, "--timeout") or 300.0,
        reporter=render.ConsoleReporter(),
    )
    render.rollback_summary(result, output)
    return 0
