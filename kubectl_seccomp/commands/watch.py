"""``kubectl seccomp watch KIND/NAME``: the calls a workload's profile does not allow, live."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kubectl_seccomp.commands import _cluster as opts


def command(
    target: str = typer.Argument(..., help=opts.TARGET_HELP),
    namespace: Optional[str] = opts.NAMESPACE,
    context: Optional[str] = opts.CONTEXT,
    kubeconfig: Optional[str] = opts.KUBECONFIG,
    request_timeout: Optional[str] = opts.REQUEST_TIMEOUT,
    containers: Optional[list[str]] = typer.Option(
        None, "--container", "-c", help="Watch only this container (repeatable; default: all)."
    ),
    duration: Optional[str] = typer.Option(None, "--duration", help="Stop after this long (e.g. 30s, 5m)."),
    idle: Optional[str] = typer.Option(None, "--idle", help="Stop when nothing new was seen for this long."),
    fold: Optional[Path] = typer.Option(
        None, "--fold", help="When it stops, add the calls seen to this profile file (a diff is printed)."
    ),
    apply_folded: bool = typer.Option(
        False, "--apply", help="With --fold: apply the folded profile (verified rollout, rolled back on failure)."
    ),
    timeout: str = opts.TIMEOUT,
    image: str = opts.IMAGE,
    agent_namespace: str = opts.AGENT_NAMESPACE,
    seccomp_root: str = opts.SECCOMP_ROOT,
    source: str = typer.Option(
        "auto", "--source", help="Audit source on the nodes: auto, netlink, auditlog, kmsg."
    ),
    output: str = typer.Option("table", "-o", "--output", help="table (live) or json (one event per line)."),
) -> int:
    """Show, per pod and container, each call the profile does not allow, as it happens.

    Complain mode: the calls the profile would deny (they run, and are logged).
    Enforce mode: the denials, if the profile has SECCOMP_FILTER_FLAG_LOG
    (apply --log-denials). Nothing stays on the nodes when it stops.
    """
    from kubectl_seccomp import watch_render
    from kubectl_seccomp.errors import UsageError
    from kubectl_seccomp.workflows.watch import WatchOptions, watch

    if output not in ("table", "json"):
        raise UsageError(f"-o {output!r} is not a format of watch", hint="use -o table or -o json")
    if apply_folded and fold is None:
        raise UsageError("--apply needs --fold PROFILE", hint="kubectl seccomp watch deploy/x --fold x.json --apply")
    parsed = opts.target(target, None)
    if fold is not None and not fold.is_file():
        raise UsageError(f"--fold {fold}: no such profile file")
    seconds = (opts.duration(duration, "--duration"), opts.duration(idle, "--idle"))
    rollout_timeout = opts.duration(timeout, "--timeout") or 300.0
    api, resolved = opts.connect(kubeconfig, context, namespace, request_timeout)
    node = opts.node_settings(image, agent_namespace, seccomp_root)
    reporter = watch_render.WatchConsole(output)
    result = watch(
        api,
        WatchOptions(
            namespace=resolved.namespace,
            name=parsed.name or "",
            kind=parsed.kind,
            containers=tuple(containers or ()),
            duration=seconds[0],
            idle=seconds[1],
            source=opts.source(source),
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
