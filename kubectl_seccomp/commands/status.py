"""``kubectl seccomp status [KIND/NAME | -A]``: the seccomp posture of the workloads and where their files are."""

from __future__ import annotations

from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: Optional[str] = typer.Argument(
        None, help="One workload (deploy/NAME, sts/, ds/, job/, cj/, po/); default: all in the namespace."
    ),
    namespace: Optional[str] = opts.NAMESPACE,
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="Every namespace."),
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    request_timeout: Optional[str] = opts.REQUEST_TIMEOUT,
    check_nodes: bool = typer.Option(
        True, "--nodes/--no-nodes", help="Check on the nodes whether Localhost profile files are present."
    ),
    image: str = opts.IMAGE,
    agent_namespace: str = opts.AGENT_NAMESPACE,
    seccomp_root: str = opts.SECCOMP_ROOT,
    output: str = opts.OUTPUT,
) -> int:
    """Show each container's seccomp profile, recordings under way, and profile files on nodes.

    Every Deployment, StatefulSet, DaemonSet, Job, CronJob and bare Pod, with
    a summary line and what an unset profile means on the nodes.
    """
    from kubectl_seccomp import render
    from kubectl_seccomp.errors import UsageError
    from kubectl_seccomp.workflows.status import status

    render.check_format(output)
    if target is not None and all_namespaces:
        raise UsageError("give either KIND/NAME or -A, not both")
    parsed = opts.target(target, None) if target is not None else None
    api, resolved = opts.connect(kubeconfig, context, namespace, request_timeout)
    report = status(
        api,
        namespace=None if all_namespaces else resolved.namespace,
        kind=parsed.kind if parsed else "Deployment",
        name=parsed.name if parsed else None,
        settings=opts.node_settings(image, agent_namespace, seccomp_root),
        check_nodes=check_nodes,
        reporter=render.ConsoleReporter(quiet=True),
    )
    render.status_table(report, output)
    return 0
