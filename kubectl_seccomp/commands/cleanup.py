"""``kubectl seccomp cleanup``: remove every object and file kubectl seccomp left behind."""

from __future__ import annotations

from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts
from kubectl_seccomp.errors import UsageError


def command(
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    request_timeout: Optional[str] = opts.REQUEST_TIMEOUT,
    profiles: bool = typer.Option(
        False,
        "--profiles",
        help="Also remove applied profiles from the nodes (pods using them will not restart).",
    ),
    orphans: bool = typer.Option(
        False,
        "--orphans",
        help="Only remove profile files and node-guard labels no pod or workload refers to any more "
        "(e.g. after a namespace was deleted); leave everything else.",
    ),
    keep_namespace: bool = typer.Option(
        False, "--keep-namespace", help="Do not delete the node pods' namespace."
    ),
    image: str = opts.IMAGE,
    agent_namespace: str = opts.AGENT_NAMESPACE,
    seccomp_root: str = opts.SECCOMP_ROOT,
    output: str = opts.OUTPUT,
) -> int:
    """Delete node pods, ConfigMaps, log profiles on the nodes and the plugin's namespace."""
    from kubectl_seccomp import render
    from kubectl_seccomp.workflows.cleanup import cleanup, cleanup_orphans

    render.check_format(output)
    if orphans and profiles:
        raise UsageError("--orphans and --profiles exclude each other", hint="--profiles removes every file already")
    api, _resolved = opts.connect(kubeconfig, context, None, request_timeout)
    settings = opts.node_settings(image, agent_namespace, seccomp_root)
    if orphans:
        render.cleanup_summary(cleanup_orphans(api, settings=settings, reporter=render.ConsoleReporter()), output)
        return 0
    result = cleanup(
        api,
        settings=settings,
        profiles=profiles,
        keep_namespace=keep_namespace,
        reporter=render.ConsoleReporter(),
    )
    render.cleanup_summary(result, output)
    return 0
