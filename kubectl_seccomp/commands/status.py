"""``kubectl seccomp status [KIND/NAME | -A]``: the seccomp posture of the workloads and where their files are."""

from typing import Annotated, Optional

import typer

from kubectl_seccomp.commands import _cluster as cluster
from kubectl_seccomp.commands import _options as opts


def command(
    target: Annotated[
        Optional[str],
        typer.Argument(help="One workload (deploy/NAME, sts/, ds/, job/, cj/, po/); default: all in the namespace."),
    ] = None,
    namespace: opts.Namespace = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")] = False,
    context: opts.Context = None,
    kubeconfig: opts.Kubeconfig = None,
    request_timeout: opts.RequestTimeout = None,
    check_nodes: Annotated[
        bool, typer.Option("--nodes/--no-nodes", help="Check on the nodes whether Localhost profile files are present.")
    ] = True,
    image: opts.Image = cluster.DEFAULT_IMAGE,
    agent_namespace: opts.AgentNamespace = cluster.DEFAULT_AGENT_NAMESPACE,
    seccomp_root: opts.SeccompRoot = cluster.DEFAULT_SECCOMP_ROOT,
    output: opts.NamedOutputOption = opts.NamedOutput.table,
) -> int:
    """Show each container's seccomp profile, recordings under way, and profile files on nodes.

    Every Deployment, StatefulSet, DaemonSet, Job, CronJob and bare Pod, with
    a summary line and what an unset profile means on the nodes.
    """
    from kubectl_seccomp import render
    from kubectl_seccomp.errors import UsageError
    from kubectl_seccomp.workflows.status import status

    if target is not None and all_namespaces:
        raise UsageError("give either KIND/NAME or -A, not both")
    parsed = cluster.target(target, None) if target is not None else None
    api, resolved = cluster.connect(kubeconfig, context, namespace, request_timeout)
    report = status(
        api,
        namespace=None if all_namespaces else resolved.namespace,
        kind=parsed.kind if parsed else "Deployment",
        name=parsed.name if parsed else None,
        settings=cluster.node_settings(image, agent_namespace, seccomp_root),
        check_nodes=check_nodes,
        reporter=render.ConsoleReporter(quiet=True),
    )
    render.status_table(report, output.value)
    return 0
