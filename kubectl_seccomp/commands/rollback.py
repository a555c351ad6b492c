"""``kubectl seccomp rollback KIND/NAME``: back to the settings before kubectl seccomp."""

from __future__ import annotations

from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help=opts.TARGET_HELP),
    selector: Optional[str] = opts.SELECTOR,
    namespace: Optional[str] = opts.NAMESPACE,
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    request_timeout: Optional[str] = opts.REQUEST_TIMEOUT,
    timeout: str = opts.TIMEOUT,
    output: str = opts.OUTPUT,
) -> int:
    """Restore the seccomp settings saved when kubectl seccomp first changed the workload."""
    from kubectl_seccomp import render
    from kubectl_seccomp.workflows._common import resolve_names
    from kubectl_seccomp.workflows.rollback import rollback

    render.check_format(output)
    parsed = opts.target(target, selector)
    rollout_timeout = opts.duration(timeout, "--timeout") or 300.0
    api, resolved = opts.connect(kubeconfig, context, namespace, request_timeout)
    results = [
        rollback(
            api,
            kind=parsed.kind,
            namespace=resolved.namespace,
            name=name,
            timeout=rollout_timeout,
            reporter=render.ConsoleReporter(),
        )
        for name in resolve_names(api, parsed, resolved.namespace)
    ]
    render.rollback_summary(results, output)
    return 0
