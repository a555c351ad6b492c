"""``kubectl seccomp rollback KIND/NAME``: back to the settings before kubectl seccomp."""

from kubectl_seccomp.commands import _cluster as cluster
from kubectl_seccomp.commands import _options as opts


def command(
    target: opts.Target,
    selector: opts.Selector = None,
    namespace: opts.Namespace = None,
    context: opts.Context = None,
    kubeconfig: opts.Kubeconfig = None,
    request_timeout: opts.RequestTimeout = None,
    timeout: opts.RollbackTimeout = "5m",
    output: opts.NamedOutputOption = opts.NamedOutput.table,
) -> int:
    """Restore the seccomp settings saved when kubectl seccomp first changed the workload."""
    from kubectl_seccomp import render
    from kubectl_seccomp.workflows._common import resolve_names
    from kubectl_seccomp.workflows.rollback import rollback

    parsed = cluster.target(target, selector)
    rollout_timeout = cluster.duration(timeout, "--timeout") or 300.0
    api, resolved = cluster.connect(kubeconfig, context, namespace, request_timeout)
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
    render.rollback_summary(results, output.value)
    return 0
