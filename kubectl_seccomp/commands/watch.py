"""``kubectl seccomp watch KIND/NAME``: the calls a workload's profile does not allow, live."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from kubectl_seccomp.commands import _cluster as cluster
from kubectl_seccomp.commands import _options as opts


def command(
    target: opts.Target,
    namespace: opts.Namespace = None,
    context: opts.Context = None,
    kubeconfig: opts.Kubeconfig = None,
    request_timeout: opts.RequestTimeout = None,
    containers: opts.WatchContainers = None,
    duration: opts.Duration = None,
    idle: opts.Idle = None,
    fold: Annotated[
        Optional[Path],
        typer.Option("--fold", help="When it stops, add the calls seen to this profile file (a diff is printed)."),
    ] = None,
    apply_folded: Annotated[
        bool,
        typer.Option(
            "--apply", help="With --fold: apply the folded profile (verified rollout, rolled back on failure)."
        ),
    ] = False,
    timeout: opts.WatchTimeout = "5m",
    image: opts.Image = cluster.DEFAULT_IMAGE,
    agent_namespace: opts.AgentNamespace = cluster.DEFAULT_AGENT_NAMESPACE,
    seccomp_root: opts.SeccompRoot = cluster.DEFAULT_SECCOMP_ROOT,
    source: opts.SourceOption = opts.Source.auto,
    output: opts.WatchOutputOption = opts.WatchOutput.table,
) -> int:
    """Show, per pod and container, each call the profile does not allow, as it happens.

    Complain mode: the calls the profile would deny (they run, and are logged).
    Enforce mode: the denials, if the profile has SECCOMP_FILTER_FLAG_LOG
    (apply --log-denials). Nothing stays on the nodes when it stops.
    """
    from kubectl_seccomp import watch_render
    from kubectl_seccomp.errors import UsageError
    from kubectl_seccomp.workflows.watch import WatchOptions, watch

    if apply_folded and fold is None:
        raise UsageError("--apply needs --fold PROFILE", hint="kubectl seccomp watch deploy/x --fold x.json --apply")
    parsed = cluster.target(target, None)
    if fold is not None and not fold.is_file():
        raise UsageError(f"--fold {fold}: no such profile file")
    seconds = (cluster.duration(duration, "--duration"), cluster.duration(idle, "--idle"))
    rollout_timeout = cluster.duration(timeout, "--timeout") or 300.0
    api, resolved = cluster.connect(kubeconfig, context, namespace, request_timeout)
    node = cluster.node_settings(image, agent_namespace, seccomp_root)
    reporter = watch_render.WatchConsole(output.value)
    result = watch(
        api,
        WatchOptions(
            namespace=resolved.namespace,
            name=parsed.name or "",
            kind=parsed.kind,
            containers=tuple(containers or ()),
            duration=seconds[0],
            idle=seconds[1],
            source=source.value,
            node=node,
        ),
        reporter,
    )
    watch_render.summary(result)
    if fold is None:
        return 0
    from kubectl_seccomp.workflows.watch import fold as fold_profile

    calls = set().union(*result.calls.values()) if result.calls else set()
    folded = fold_profile(fold, calls)
    watch_render.fold_report(folded)
    if apply_folded and folded.before != folded.after:
        from kubectl_seccomp import render
        from kubectl_seccomp.workflows.apply import ApplyOptions, apply

        modes = set(result.modes.values())
        with render.evidence_on_failure():
            applied = apply(
                api,
                ApplyOptions(
                    namespace=resolved.namespace,
                    name=parsed.name or "",
                    kind=parsed.kind,
                    profile_path=str(fold),
                    containers=tuple(sorted(result.modes)),
                    timeout=rollout_timeout,
                    mode=modes.pop() if len(modes) == 1 and modes <= {"enforce", "complain"} else None,
                    node=node,
                ),
                reporter,
            )
        render.apply_summary([applied], "table")
    return 0
