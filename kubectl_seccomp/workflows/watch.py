"""The core of ``kubectl seccomp watch``: what a workload's profile does not allow, live.

1. Look at the target's containers: the mode of each profile decides what the
   kernel logs. Complain mode (``...-complain.json``): every call outside the
   allow list runs and leaves a LOG record. Enforce mode: denials leave an
   ERRNO record only if the profile carries ``SECCOMP_FILTER_FLAG_LOG`` (we
   read the file on a node to know); without it only KILL records would
   show, and we say so rather than show an empty watch. No profile of ours:
   nothing to watch, refused.
2. Start one agent per node a target pod can land on (``follow --tally``: every
   call counted per process, new ones reported at once), the same follower
   pods as ``record`` but without a log profile: nothing is installed.
3. Map the calls to pods and containers by container ID; hand every changed
   row to the reporter; stop at ``--duration``, ``--idle`` (no new row for
   that long) or Ctrl-C.
4. Delete the agent pods and the run's ConfigMap, shielded from a further
   Ctrl-C: nothing stays on the nodes.

``--fold`` merges what was seen into a profile file (:func:`fold`), and the
command can re-apply it through the ``apply`` core.
"""

from __future__ import annotations

import contextlib
import queue
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Protocol

from kubectl_seccomp import modes
from kubectl_seccomp.errors import InputError, SeccompError, UsageError
from kubectl_seccomp.interrupts import shielded, sigterm_as_interrupt
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import owners
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import KubeError, NodeCommandFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.profile import COMPLAIN, ENFORCE, LOG, Profile, ProfileDiff
from kubectl_seccomp.targets import DEPLOYMENT, POD
from kubectl_seccomp.watching import WatchRow, WatchState, parse_watch_event
from kubectl_seccomp.workflows._agents import Agents, container_targets
from kubectl_seccomp.workflows._common import ID_LOOKUP_WINDOW, Reporter, agent_zipapp, new_run_id, quiet_delete_run
from kubectl_seccomp.workflows._modes import FLAGS_HINT

READ_SCRIPT = "import sys; sys.stdout.write(open(sys.argv[1]).read())"


class WatchReporter(Reporter, Protocol):
    def calls(self, row: WatchRow) -> None: ...

    def tick(self, state: WatchState, elapsed: float) -> None: ...

    def watch_done(self, state: WatchState) -> None: ...


@dataclass(frozen=True)
class WatchOptions:
    namespace: str
    name: str
    kind: str = DEPLOYMENT
    containers: tuple[str, ...] = ()
    duration: Optional[float] = None
    idle: Optional[float] = None
    source: str = "auto"
    node: NodeSettings = field(default_factory=NodeSettings)
    start_timeout: float = 60.0
    settle: float = 1.5  # seconds to keep reading after the stop, for records in flight


@dataclass(frozen=True)
class WatchResult:
    namespace: str
    name: str
    kind: str
    stop_reason: str
    duration: float
    modes: dict[str, str]  # container -> enforce, complain, log
    rows: tuple[WatchRow, ...]
    calls: dict[str, set[tuple[str, str]]]  # container -> (arch, syscall) seen
    foreign: int
    lost: int
    warnings: tuple[str, ...]


def profile_modes(
    api: KubeApi, owner: Obj, selected: list[wl.ContainerInfo], settings: NodeSettings
) -> tuple[dict[str, str], list[str]]:
    """Each selected container's mode, and warnings about what the kernel will not log."""
    found: dict[str, str] = {}
    paths: dict[str, str] = {}
    for info in selected:
        setting = wl.effective_seccomp(owner, info) or {}
        mode = modes.mode_of(setting, None)
        if mode not in (COMPLAIN, ENFORCE, LOG):
            raise UsageError(
                f"container {info.name} of {wl.describe(owner)} runs {mode}: no profile of ours, nothing to watch",
                hint=f"apply one first: kubectl seccomp apply {wl.ref(owner)} -f PROFILE --mode complain",
            )
        found[info.name] = mode
        if mode == ENFORCE:
            paths[info.name] = str(setting.get("localhostProfile"))
    warnings = []
    for container, path in sorted(paths.items()):
        text = read_profile(api, owner, settings, path)
        if text is not None and not modes.logs_denials(text):
            warnings.append(
                f"container {container} is in enforce mode without SECCOMP_FILTER_FLAG_LOG: the kernel does not "
                f"log its denials, only KILL records can show. To see them: kubectl seccomp apply "
                f"{wl.ref(owner)} -f PROFILE --mode enforce --log-denials (refused by runtimes without seccomp "
                f"flags, such as Debian's runc 1.1: {FLAGS_HINT}), or --mode complain"
            )
    return found, warnings


def read_profile(api: KubeApi, owner: Obj, settings: NodeSettings, path: str) -> Optional[str]:
    """The text of a Localhost profile as one node has it; None if no node has it."""
    nodes = node_ops.eligible_nodes(api, wl.pod_spec(owner))[:1]
    if not nodes:
        return None
    run_id = new_run_id()
    try:
        configmap = node_ops.create_payload(api, settings, run_id, b"")
        results = node_ops.run_on_nodes(
            api,
            settings,
            role="read",
            run_id=run_id,
            configmap=configmap,
            commands={nodes[0].name: ["python3", "-c", READ_SCRIPT, f"{node_ops.HOST_ROOT}/{path}"]},
        )
    except NodeCommandFailed:
        return None
    finally:
        quiet_delete_run(api, settings, run_id)
    return results[0].output if results else None


class Watcher:
    """One run of ``kubectl seccomp watch`` (see the module docstring)."""

    def __init__(self, api: KubeApi, options: WatchOptions, reporter: WatchReporter) -> None:
        self.api = api
        self.options = options
        self.reporter = reporter
        self.run_id = new_run_id()
        self.agents = Agents(
            api,
            options.node,
            run_id=self.run_id,
            args=["--source", options.source, "--tally", "--interval", "1"],
            parse=parse_watch_event,
        )
        self.warnings: list[str] = []
        self.state = WatchState(wanted=frozenset())
        self._last_refresh = 0.0
        self._unknown_at = float("-inf")  # when an agent last named a container ID we did not know
        self.owner: Obj = {}

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.reporter.warn(message)

    def run(self) -> WatchResult:
        o = self.options
        owner = self.owner = owners.get_owner(self.api, o.kind, namespace=o.namespace, name=o.name)
        selected = wl.select_containers(owner, o.containers)
        node_ops.ensure_namespace(self.api, o.node.namespace)
        found, warnings = profile_modes(self.api, owner, selected, o.node)
        for message in warnings:
            self.warn(message)
        if LOG in found.values():
            self.warn("a recording is under way (log profile): every call of those containers shows")
        eligible = node_ops.eligible_nodes(self.api, wl.pod_spec(owner))
        if o.kind == POD and (owner.get("spec") or {}).get("nodeName"):
            eligible = [n for n in eligible if n.name == owner["spec"]["nodeName"]]
        if not eligible:
            raise KubeError(
                f"no Ready, schedulable node can run pods of {wl.describe(owner)}", hint="kubectl get nodes"
            )
        self.state = WatchState(wanted=frozenset(info.name for info in selected))
        started = time.monotonic()
        try:
            self.reporter.phase(f"starting the node agent on {len(eligible)} node(s)")
            self.start([n.name for n in eligible])
            self.refresh()
            started = time.monotonic()
            reason = self.follow(started)
        finally:
            with shielded(self.reporter.warn):
                self.stop()
        self.state.finish()
        self.reporter.watch_done(self.state)
        totals = self.state.totals()
        return WatchResult(
            o.namespace,
            o.name,
            o.kind,
            reason,
            time.monotonic() - started,
            found,
            tuple(sorted(self.state.rows.values(), key=lambda r: (r.first, r.key))),
            self.state.calls_by_container(),
            self.state.foreign,
            totals.lost,
            tuple(self.warnings),
        )

    def start(self, nodes: list[str]) -> None:
        configmap = node_ops.create_payload(self.api, self.options.node, self.run_id, agent_zipapp())
        self.agents.start(
            nodes,
            configmap,
            drain=self.drain,
            errors=lambda: self.state.errors,
            timeout=self.options.start_timeout,
        )

    def drain(self, timeout: float) -> None:
        """Feed queued events to the state and the changed rows to the reporter (and say what
        happened to agents whose stream ended, :meth:`Agents.supervise`)."""
        for message in self.agents.supervise():
            self.warn(message)
        try:
            node, event = self.agents.events.get(timeout=timeout)
        except queue.Empty:
            pass
        else:
            while True:
                if isinstance(event, str):
                    self.warn(f"{node}: {event}")
                else:
                    row, new_id = self.state.feed(node, event)
                    if new_id:
                        self._unknown_at = time.monotonic()
                    if row is not None:
                        self.reporter.calls(row)
                try:
                    node, event = self.agents.events.get_nowait()
                except queue.Empty:
                    break
        now = time.monotonic()
        if self.state.pending and now - self._unknown_at < ID_LOOKUP_WINDOW and now - self._last_refresh > 1.0:
            self.refresh()

    def refresh(self) -> None:
        o = self.options
        owner = self.api.get_object(o.kind, o.namespace, o.name)
        pods = owners.owner_pods(self.api, owner)
        kept = [pod for pod in pods if not self._left_over_recording(owner, pod)]
        if len(kept) < len(pods) and not self._warned_log_pods:
            self._warned_log_pods = True
            self.warn(
                f"{len(pods) - len(kept)} pod(s) of {wl.describe(owner)} still run under the recording's log "
                "profile (terminating): left out, they log every call"
            )
        for row in self.state.set_targets(container_targets(kept)):
            self.reporter.calls(row)
        self._last_refresh = time.monotonic()

    _warned_log_pods = False

    @staticmethod
    def _left_over_recording(owner: Obj, pod: Obj) -> bool:
        """A pod on the log profile while the owner is not: a recording's pod, not yet gone."""
        if any(modes.mode_of(wl.effective_seccomp(owner, info), None) == LOG for info in wl.containers(owner)):
            return False
        pod = {**pod, "kind": POD}  # listed pods may come without their kind
        return any(modes.mode_of(wl.effective_seccomp(pod, info), None) == LOG for info in wl.containers(pod))

    def follow(self, started: float) -> str:
        o = self.options
        self.reporter.phase("watching; Ctrl-C stops")
        last_rows, last_change = 0, started
        reason = "interrupted (Ctrl-C)"
        try:
            while True:
                self.drain(0.25)
                now = time.monotonic()
                if len(self.state.rows) != last_rows:
                    last_rows, last_change = len(self.state.rows), now
                self.reporter.tick(self.state, now - started)
                if o.duration is not None and now - started >= o.duration:
                    reason = f"--duration {o.duration:g}s reached"
                    break
                if o.idle is not None and now - last_change >= o.idle:
                    reason = f"nothing new for --idle {o.idle:g}s"
                    break
                if self.state.errors:
                    raise NodeCommandFailed(f"node agent failed: {self.state.errors[0]}")
                if self.agents.all_failed():
                    raise NodeCommandFailed(
                        "every node agent stopped while watching", hint=f"kubectl -n {o.node.namespace} get pods"
                    )
        except KeyboardInterrupt:
            reason = "interrupted (Ctrl-C)"
        end = time.monotonic() + o.settle
        with contextlib.suppress(KeyboardInterrupt):
            while time.monotonic() < end:
                self.drain(max(end - time.monotonic(), 0.01))
        return reason

    def stop(self) -> None:
        """Delete the agent pods (each prints its last counts) and the run's objects."""
        o = self.options
        self.agents.stop(self.drain, wait=15)
        try:
            node_ops.delete_run_objects(self.api, o.node, self.run_id)
        except SeccompError as error:
            self.warn(f"could not delete the agent pods: {error.message}; run `kubectl seccomp cleanup`")


def watch(api: KubeApi, options: WatchOptions, reporter: WatchReporter) -> WatchResult:
    with sigterm_as_interrupt():
        return Watcher(api, options, reporter).run()


@dataclass(frozen=True)
class FoldResult:
    path: Path
    diff: ProfileDiff
    before: str
    after: str


def fold(path: Path, calls: set[tuple[str, str]]) -> FoldResult:
    """Merge ``(arch, syscall)`` pairs into the profile file at ``path`` (rewritten only if it changes)."""
    profile = Profile.load(path)
    if not calls:
        return FoldResult(path, profile.diff(profile), profile.to_json(), profile.to_json())
    seen = Profile.from_observations(sorted(calls))
    # Merge as allow-lists, then give the result the file's own default action and flags.
    as_seen = replace(profile, default_action=seen.default_action, default_errno_ret=seen.default_errno_ret, flags=())
    merged = replace(
        as_seen.merge(seen),
        default_action=profile.default_action,
        default_errno_ret=profile.default_errno_ret,
        flags=profile.flags,
    )
    before, after = profile.to_json(), merged.to_json()
    if after != before:
        try:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(after)
            tmp.replace(path)
        except OSError as error:
            raise InputError(f"{path}: cannot write: {error.strerror}") from error
    return FoldResult(path, profile.diff(merged), before, after)
