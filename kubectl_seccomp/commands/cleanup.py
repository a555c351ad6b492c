"""``kubectl seccomp cleanup``: remove every object and file kubectl seccomp left behind."""

from typing import Annotated

import typer

from kubectl_seccomp.commands import _cluster as cluster
from kubectl_seccomp.commands import _options as opts
from kubectl_seccomp.errors import UsageError


def command(
    context: opts.Context = None,
    kubeconfig: opts.Kubeconfig = None,
    request_timeout: opts.RequestTimeout = None,
    profiles: Annotated[
        bool,
        typer.Option(
            "--profiles", help="Also remove applied profiles from the nodes (pods using them will not restart)."
        ),
    ] = False,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="Only remove profile files and node-guard labels no pod or workload refers to any more "
            "(e.g. after a namespace was deleted); leave everything else.",
        ),
    ] = False,
    keep_namespace: Annotated[
        bool, typer.Option("--keep-namespace", help="Do not delete the node pods' namespace.")
    ] = False,
    image: opts.Image = cluster.DEFAULT_IMAGE,
    agent_namespace: opts.AgentNamespace = cluster.DEFAULT_AGENT_NAMESPACE,
    seccomp_root: opts.SeccompRoot = cluster.DEFAULT_SECCOMP_ROOT,
    output: opts.OutputOption = opts.Output.table,
) -> int:
    """Delete node pods, ConfigMaps, log profiles on the nodes and the plugin's namespace."""
    from kubectl_seccomp import render
    from kubectl_seccomp.workflows.cleanup import cleanup, cleanup_orphans

    if orphans and profiles:
        raise UsageError("--orphans and --profiles exclude each other", hint="--profiles removes every file already")
    api, _resolved = cluster.connect(kubeconfig, context, None, request_timeout)
    settings = cluster.node_settings(image, agent_namespace, seccomp_root)
    if orphans:
        render.cleanup_summary(cleanup_orphans(api, settings=settings, reporter=render.ConsoleReporter()), output.value)
        return 0
    result = cleanup(
        api,
        settings=settings,
        profiles=profiles,
        keep_namespace=keep_namespace,
        reporter=render.ConsoleReporter(),
    )
    render.cleanup_summary(result, output.value)
    return 0
