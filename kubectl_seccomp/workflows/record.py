"""The record workflow: from a running workload to one tight profile per container.

Works on every pod-template owner (see :mod:`kubectl_seccomp.kube.workloads`):
Deployments, StatefulSets and DaemonSets roll onto the log profile and back;
for a Job or CronJob we run a copy of its template as a Job of our own, under
the log profile, to completion; a bare Pod is traced as it runs, if it already
runs under a log profile of ours.

Phases, each undone if a later one fails or the user presses Ctrl-C:

1. validate the target (exists, not managed by another controller, would
   roll, no recording running) and lock it (annotations on the owner: the
   original settings, once, and a recording lock);
2. start one agent pod per node the recording needs (:mod:`..kube.placement`:
   with the node guard, the nodes running the target's pods now and a spare
   where the spread needs one; with ``--all-nodes`` or without the guard,
   every node a target pod can land on): it installs the log profile
   (``defaultAction: SCMP_ACT_LOG``), then follows the audit records, and
   removes the log profile when it is deleted;
3. wait until every agent has installed the file and reads the records,
   *before* any pod rolls, so that container start-up is traced too; when
   fewer nodes than eligible were chosen, label them for the log profile
   (the node guard's label of that file);
4. point the selected containers at the log profile and wait for the rollout
   (OnDelete: we delete the pods one at a time); for Jobs and CronJobs, start
   the copy Job instead; either requires the log profile's label when nodes
   were chosen (the *pin*), so no pod lands on a node without an agent;
5. trace until Ctrl-C, ``--duration``, ``--idle``, the ``--exec`` command
   exits or the copy Job ends, attributing events to containers by the pods'
   container IDs; then (not after Ctrl-C; Deployments, StatefulSets and
   DaemonSets) stop one traced pod with SIGTERM and trace until it is gone
   and its replacement's containers exist, so that the app's shutdown path
   is in the profile too;
6. write one profile per container, merged over replicas, nodes and arches;
7. unless ``--no-apply``: hand the profiles to the agents, which install
   them (:meth:`Recorder.hand_over`; the recording ends with their answer),
   stop the agents, and apply the profiles (``_install.apply_profiles``,
   which installs them where no agent did and rolls back on its own);
8. clean up, shielded from further Ctrl-C: the owner back to its settings of
   before the run if it is still on the log profile (its pods roll back by
   themselves; OnDelete: we roll them), the copy Job deleted, the lock
   released, the pin's labels removed (before the file: never a label
   without its file; the template's pin goes with its settings, or with the
   apply), the agent pods deleted gracefully (each removes the log profile; a
   remove pod does it where that was not confirmed), the run's ConfigMap
   deleted.

No typer and no printing: progress goes to a :class:`RecordReporter`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from kubectl_seccomp.agent.events import Counters
from kubectl_seccomp.errors import InputError, NothingTraced, SeccompError, UsageError
from kubectl_seccomp.formats import FILE_EXTENSIONS, ProfileFormat, render_profile, resource_name
from kubectl_seccomp.interrupts import shielded, sigterm_as_interrupt
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import owners, placement
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, Obj
from kubectl_seccomp.kube.errors import Conflict, KubeError, NodeCommandFailed, NotFound, RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.observed import profile_for
from kubectl_seccomp.profile import COMPLAIN, ENFORCE, Profile
from kubectl_seccomp.targets import DEPLOYMENT, JOB, POD, short_name
from kubectl_seccomp.trace import TraceState, TraceView
from kubectl_seccomp.workflows._agents import HANDOVER_TIMEOUT, Agents, NodeCoverage, container_targets
from kubectl_seccomp.workflows._common import (
    ID_LOOKUP_WINDOW,
    PROFILE_DIR,
    Reporter,
    agent_zipapp,
    check_owner,
    lock_value,
    log_path,
    new_run_id,
)
from kubectl_seccomp.workflows._install import ApplyResult, apply_profiles, profile_files, restore_settings
from kubectl_seccomp.workflows._modes import flag_refusal_explained
from kubectl_seccomp.workflows._pin import Pin, place

INTERRUPTED = "interrupted (Ctrl-C)"
PARTIAL_EXIT = 10  # the exit code of a recording with a gap on a node (unless --allow-partial)
SHUTDOWN_MARGIN = 15  # seconds past the pod's grace period before record_shutdown stops waiting
HANDOVER_ROUNDS = 3  # hand-overs of the profiles at most, when events read meanwhile add calls
SHUTDOWN_POLL = 0.25  # seconds between looks at the stopping pod (events are read meanwhile)
LOCK_ATTEMPTS = 3  # tries to take the lock when the owner changes (its status, mostly) under us


class RecordReporter(Reporter, Protocol):
    def trace(self, view: TraceView) -> None: ...

    def trace_done(self) -> None: ...


@dataclass(frozen=True)
class RecordOptions:
    namespace: str
    name: str
    containers: tuple[str, ...] = ()
    duration: Optional[float] = None
    idle: Optional[float] = None
    exec_command: Optional[str] = None
    output_dir: Path = Path("profiles")
    apply: bool = True
    node_guard: bool = True
    timeout: float = 300.0
    source: str = "auto"
    node: NodeSettings = field(default_factory=NodeSettings)
    start_timeout: float = 60.0
    log_denials: bool = False  # SECCOMP_FILTER_FLAG_LOG: runc < 1.1.? refuses profiles with flags
    settle: float = 1.0  # seconds to keep tracing after the stop, for records in flight
    kind: str = DEPLOYMENT
    include_denied: bool = False  # also allow calls a filter denied (seen with --log-denials profiles)
    mode: str = ENFORCE  # how the recorded profiles are applied (the files written are always enforce)
    base: Optional[Profile] = None  # record under this profile in complain mode; the result is base + new calls
    profile_format: ProfileFormat = ProfileFormat.json  # the form of the files written (spo: a SeccompProfile)
    allow_partial: bool = False  # a gap on a node (an agent lost) is only reported: profiles written and applied
    all_nodes: bool = False  # agents on every eligible node, the rollout not pinned to the chosen ones


@dataclass(frozen=True)
class ContainerResult:
    container: str
    init: bool
    syscalls: int
    architectures: tuple[str, ...]
    pods: int
    nodes: int
    path: Optional[Path]
    profile: Optional[Profile]


@dataclass(frozen=True)
class RecordResult:
    namespace: str
    name: str
    stop_reason: str
    exec_exit_code: Optional[int]
    duration: float
    containers: tuple[ContainerResult, ...]
    counters: Counters
    foreign: int
    unknown: tuple[str, ...]
    sources: dict[str, str]
    applied: Optional[ApplyResult]
    warnings: tuple[str, ...]
    kind: str = DEPLOYMENT
    nodes: tuple[NodeCoverage, ...] = ()  # per node: time traced, and not (an agent lost)
    partial: bool = False  # a node has a gap and --allow-partial was not given: written as .partial.json, not applied
    nodes_eligible: int = 0  # nodes a pod of the target could land on (``nodes`` are those traced)

    @property
    def gaps(self) -> bool:
        return any(n.gap > 0 for n in self.nodes)


class Recorder:
    """One run of ``kubectl seccomp record`` (see the module docstring)."""

    def __init__(
        self, api: KubeApi, options: RecordOptions, reporter: RecordReporter, agent: Optional[bytes] = None
    ) -> None:
        self.api = api
        self.options = options
        self.reporter = reporter
        self.run_id = new_run_id()
        self.log_profile = log_path(options.namespace, options.name, options.kind)
        self.copy_job: Optional[str] = None  # Jobs and CronJobs: the Job we run from the template
        self.job_outcome: Optional[str] = None
        self._agent = agent
        self.before: Optional[wl.Originals] = None
        self.added_original = False
        self.applied = False
        self.agents = Agents(api, options.node, run_id=self.run_id, args=["--source", options.source])
        self.warnings: list[str] = []
        self.selected: list[wl.ContainerInfo] = []
        self.state = TraceState(wanted=frozenset())
        self.pin = Pin(api, self.log_profile, placement.Placement((), 0))  # chosen once the target is known

    @property
    def agent(self) -> bytes:
        if self._agent is None:
            self._agent = agent_zipapp()
        return self._agent

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.reporter.warn(message)

    # -- the phases -------------------------------------------------------------

    def run(self) -> RecordResult:
        """Record; whatever happens, undo what the phases did, shielded from a further Ctrl-C."""
        undo = contextlib.ExitStack()
        try:
            return self._run(undo)
        finally:
            with shielded(self.reporter.warn):
                undo.close()

    def _run(self, undo: contextlib.ExitStack) -> RecordResult:
        o = self.options
        owner = self.validate()
        eligible = node_ops.eligible_nodes(self.api, wl.pod_spec(owner))
        if o.kind == POD and (owner.get("spec") or {}).get("nodeName"):
            eligible = [n for n in eligible if n.name == owner["spec"]["nodeName"]]
        if not eligible:
            raise KubeError(
                f"no Ready, schedulable node can run pods of {wl.describe(owner)}", hint="kubectl get nodes"
            )
        # without the guard nothing would keep the pods on the chosen nodes: every eligible node
        chosen = place(self.api, owner, [n.name for n in eligible], narrow=o.node_guard and not o.all_nodes)
        self.pin = Pin(self.api, self.log_profile, chosen)
        node_names = list(chosen.nodes)
        self.lock(owner)
        undo.callback(self._restore_owner)

        # The agent pods install the log profile before they follow, and
        # remove it when they are deleted: no extra pod start-ups.
        self.reporter.phase(
            f"installing the log profile {self.log_profile} and starting the node agent on {chosen.describe()}"
        )
        undo.callback(self._undo_nodes, list(node_names))
        node_ops.ensure_namespace(self.api, o.node.namespace)
        log_profile = Profile.log_profile(node_ops.arch_names([n for n in eligible if n.name in node_names]))
        if o.base is not None:  # only calls the base does not allow reach the audit log
            log_profile = o.base.in_mode(COMPLAIN).merge(log_profile)
        self.state = state = TraceState(
            wanted=frozenset(info.name for info in self.selected), include_denied=o.include_denied
        )
        self.start_followers(node_names, state, log_profile.to_json())
        self.pin.mark()

        self.start_workload(undo)
        self.refresh_targets(state)

        started = time.monotonic()
        stop_reason, exit_code = self.trace(state)
        stopped = stop_reason != INTERRUPTED and o.kind in wl.ROLLING_KINDS and self.record_shutdown(state)
        if not stopped:  # record_shutdown reads on while the pods stop; otherwise settle here
            self.settle(state)
        ended = time.monotonic()
        traced_for = ended - started
        for message in self.agents.supervise():  # a gap that ended just now
            self.warn(message)
        coverage = tuple(self.agents.coverage(started, ended))
        partial = any(n.gap > 0 for n in coverage) and not o.allow_partial
        handed_over: list[str] = []
        if o.apply and not partial:
            results, handed_over = self.hand_over(state)
            # The recording has ended: the agents stop (and remove the log profile, which the pods
            # started already loaded) while the pods roll onto the profiles; their streams are
            # read to the end (the last counters) afterwards.
            self.begin_stop_followers()
        else:
            self.stop_followers(state)
        if not state.closed:
            self.refresh_targets(state)
            state.finish()
            results = self.write(state, partial=partial)
        applied = None
        usable = usable_profiles(results, o.mode)
        if partial:
            missed = ", ".join(f"{n.node} {n.gap:.0f}s" for n in coverage if n.gap > 0)
            self.warn(
                f"not traced on every node all the time ({missed}): the profiles are written as .partial.json"
                + (" and not applied" if o.apply else "")
                + "; record again, or --allow-partial to use them anyway"
            )
        elif o.apply and usable:
            before = self.before
            assert before is not None
            self.reporter.phase("applying the recorded profiles")
            with flag_refusal_explained(usable.values()):
                applied = apply_profiles(
                    self.api,
                    kind=o.kind,
                    namespace=o.namespace,
                    name=o.name,
                    profiles=usable,
                    settings=o.node,
                    timeout=o.timeout,
                    reporter=self.reporter,
                    run_id=self.run_id,
                    before=before,
                    drop_original_on_failure=self.added_original,
                    agent=self.agent,
                    guard=o.node_guard,
                    pin=self.pin.key,
                    installed=handed_over,
                )
            self.applied = True
        elif o.apply:
            self.warn("no container produced any syscall: nothing to apply")
        self.stop_followers(state)  # read to the end, if apply began the stop
        for container, calls in sorted(state.denied.items()):
            names = sorted({name for _arch, name in calls})
            self.warn(
                f"container {container}: {len(names)} call(s) a filter denied were left out of its profile "
                f"({', '.join(names[:8])}); --include-denied allows them"
            )
        unknown = tuple(sorted(f"{c} {arch} #{n}" for c, arch, n in state.unknown))
        if unknown:
            self.warn(f"{len(unknown)} syscall number(s) not in our tables could not be named in the profile")
        return RecordResult(
            o.namespace,
            o.name,
            stop_reason,
            exit_code,
            traced_for,
            tuple(results),
            state.totals(),
            state.foreign,
            unknown,
            dict(state.sources),
            applied,
            tuple(self.warnings),
            o.kind,
            coverage,
            partial,
            chosen.eligible,
        )

    def validate(self) -> Obj:
        o = self.options
        owner = owners.get_owner(self.api, o.kind, namespace=o.namespace, name=o.name)
        check_owner(self.api, owner)
        self.check_unlocked(owner)
        if o.kind == POD:
            on_log = wl.log_profile_of(owner, PROFILE_DIR + "/")
            if on_log is None:
                raise UsageError(
                    f"pod {o.name} does not run under a log profile: its syscalls would not be audited, "
                    "and a Pod's seccomp settings cannot change without re-creating it",
                    hint="record its owner (deploy/, sts/, ds/, job/, cj/), or re-create the pod with "
                    f"securityContext.seccompProfile {{type: Localhost, localhostProfile: "
                    f"{log_path(o.namespace, o.name, POD)}}} and record it while it starts",
                )
            self.log_profile = on_log
        self.selected, privileged = wl.traceable_containers(owner, wl.select_containers(owner, o.containers))
        for name in privileged:
            self.warn(f"container {name} runs privileged, without seccomp: not recorded")
        return owner

    def start_workload(self, undo: contextlib.ExitStack) -> None:
        """Get the selected containers running under the log profile (pinned to the chosen nodes)."""
        o = self.options
        owner = self.api.get_object(o.kind, o.namespace, o.name)
        settings = {(info.name, info.init): wl.localhost(self.log_profile) for info in self.selected}
        if o.kind in wl.ROLLING_KINDS:
            self.reporter.phase(
                f"pointing {len(self.selected)} container(s) at the log profile; waiting for the rollout"
            )
            # one patch: one rollout
            owners.patch(self.api, owner, wl.seccomp_ops(owner, settings) + self.pin.owner_ops(owner))
            self.wait_rollout()
        elif o.kind in wl.COPY_KINDS:
            name = f"{o.name[:40]}-ksc-{self.run_id}"
            labels = {node_ops.MANAGED_BY: node_ops.MANAGER, node_ops.RUN_LABEL: self.run_id}
            self.reporter.phase(
                f"running job {name} from the template of {wl.ref(owner)} with {len(self.selected)} "
                "container(s) on the log profile"
            )
            self.copy_job = name
            self.api.create_object(JOB, o.namespace, self.pin.job(wl.job_copy(owner, name, labels, settings)))
            undo.callback(self._delete_copy_job)

    def workload_pods(self, *, newest_only: bool = False) -> list[Obj]:
        o = self.options
        if self.copy_job is not None:
            return self.api.list_pods(o.namespace, label_selector=f"{node_ops.RUN_LABEL}={self.run_id}")
        owner = self.api.get_object(o.kind, o.namespace, o.name)
        return owners.owner_pods(self.api, owner, newest_only=newest_only)

    def check_unlocked(self, owner: Obj) -> None:
        lock = wl.recording_lock(owner)
        if lock is not None:
            raise UsageError(
                f"a recording of {wl.describe(owner)} is already running (since {lock.get('since', '?')}, "
                f"by {lock.get('host', '?')} pid {lock.get('pid', '?')})",
                hint=f"if it was killed: kubectl seccomp rollback {wl.ref(owner)} -n {self.options.namespace} && "
                "kubectl seccomp cleanup",
            )

    def lock(self, owner: Obj) -> None:
        """Take the recording lock (and save the original settings) in one patch that fails if the owner
        changed since it was read. A change of its status alone (a rollout that just ended) is no reason
        to give up: read it again, look at the lock again, and retry."""
        o = self.options
        for attempt in range(LOCK_ATTEMPTS):
            if attempt:
                owner = self.api.get_object(o.kind, o.namespace, o.name)
                self.check_unlocked(owner)  # another recording may have taken it meanwhile
            before = wl.current_originals(owner)
            changes: dict[str, Optional[str]] = {wl.RECORDING_ANNOTATION: lock_value(self.run_id, self.log_profile)}
            added_original = wl.read_originals(owner) is None and o.kind in wl.ROLLING_KINDS
            if added_original:
                changes[wl.ORIGINAL_ANNOTATION] = before.to_json()
            try:
                owners.patch(self.api, owner, wl.annotation_ops(owner, changes), guard_version=True)
            except Conflict:
                if attempt == LOCK_ATTEMPTS - 1:
                    raise
                continue
            self.before, self.added_original = before, added_original
            return

    def start_followers(self, node_names: list[str], state: TraceState, log_profile: str) -> None:
        o = self.options
        configmap = node_ops.create_payload(self.api, o.node, self.run_id, self.agent, {node_ops.LOG_KEY: log_profile})
        self.agents.log_profile = self.log_profile
        self.agents.start(
            node_names,
            configmap,
            drain=lambda timeout: self.drain(state, timeout),
            errors=lambda: state.errors,
            ready=lambda node: node in state.log_installed,
            timeout=o.start_timeout,
        )

    def drain(self, state: TraceState, timeout: float) -> None:
        """Feed queued events into ``state``; wait up to ``timeout`` for the first. Agents whose
        stream ended are looked after first (:meth:`Agents.supervise`)."""
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
                elif state.feed(node, event):
                    self._unknown_at = time.monotonic()
                try:
                    node, event = self.agents.events.get_nowait()
                except queue.Empty:
                    break
        if state.pending and time.monotonic() - self._unknown_at < ID_LOOKUP_WINDOW:
            self._maybe_refresh(state)

    _unknown_at = float("-inf")  # when an agent last named a container ID we did not know

    _last_refresh = 0.0

    def _maybe_refresh(self, state: TraceState) -> None:
        if time.monotonic() - self._last_refresh > 2.0:
            try:
                self.refresh_targets(state)
            except KubeError:  # the API server restarting: the events wait in state.pending, look again soon
                self._last_refresh = time.monotonic()

    def refresh_targets(self, state: TraceState) -> None:
        # Merged, not replaced: a pod that is gone (stopped by record_shutdown) still has
        # records in flight, and a container ID never changes its meaning.
        state.set_targets({**state.targets, **container_targets(self.workload_pods())})
        self._last_refresh = time.monotonic()

    def record_shutdown(self, state: TraceState) -> bool:
        """Stop one traced pod (SIGTERM) while the agents still trace; wait until it is gone and its
        replacement's containers exist. False if there was no pod to stop.

        What an app does when told to stop (signal and reap its worker processes, remove its
        pid file, write its final state) runs only then. Without this the first time it runs is
        the rollout that applies the profile, under the profile: nginx's master, for one, cannot
        setitimer() nor wait4() for its workers and is SIGKILLed at the end of the grace period.
        One pod is enough (every replica runs the same code) and leaves the others serving. Its
        replacement starts on the log profile (its start is recorded too); the agents, which
        remove that file, may stop once the replacement's containers, and so their filters,
        exist: without the file it would fail with CreateContainerError, and a StatefulSet's
        ordered rollout onto the recorded profile would wait for it for ever.
        """
        pods = self.workload_pods(newest_only=True)
        if not pods:
            return False
        # a StatefulSet's highest ordinal: the first pod its rollout onto the profile replaces
        pod = max(pods, key=owners.ordinal)
        meta = pod["metadata"]
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self.reporter.phase(f"recording the shutdown: stopping pod {meta['name']} with SIGTERM (grace {grace}s)")
        with contextlib.suppress(NotFound):  # already going
            self.api.delete_pod(self.options.namespace, meta["name"])
        deadline = time.monotonic() + grace + SHUTDOWN_MARGIN
        while True:
            current = self.workload_pods()
            # A StatefulSet's replacement keeps its pod's name: a new uid is a new pod.
            stopping = any(
                p["metadata"]["name"] == meta["name"] and p["metadata"].get("uid") == meta.get("uid") for p in current
            )
            started = sum(1 for p in current if not wl.pod_done(p) and wl.containers_created(p))
            if not stopping and started >= len(pods):
                return True
            if time.monotonic() > deadline:
                what = f"pod {meta['name']} still stopping" if stopping else "its replacement has no containers yet"
                self.warn(f"{what} after {grace + SHUTDOWN_MARGIN}s")
                return True
            self.drain(state, timeout=SHUTDOWN_POLL)

    def wait_rollout(self, *, fail_fast: bool = True) -> None:
        """Follow the owner's rollout onto its template until its pods are Ready (``--timeout``)."""
        o = self.options
        try:
            owners.wait_rollout(
                self.api,
                kind=o.kind,
                namespace=o.namespace,
                name=o.name,
                timeout=o.timeout,
                on_progress=self.reporter.rollout,
                fail_fast=fail_fast,
            )
        except RolloutFailed as error:
            explained = self.pin.explain(error, lambda: self.workload_pods(newest_only=True))
            if explained is error:
                raise
            raise explained from error

    _last_job_check = 0.0

    def job_ended(self) -> Optional[str]:
        """``Complete``/``Failed`` once the copy Job ended (looked up at most once a second)."""
        if self.copy_job is None or time.monotonic() - self._last_job_check < 1.0:
            return None
        self._last_job_check = time.monotonic()
        self.job_outcome = owners.wait_job(self.api, self.options.namespace, self.copy_job)
        if self.job_outcome is None:
            problems = [
                problem
                for pod in self.workload_pods()
                for problem in wl.pod_problems(pod)
                if problem.reason in wl.CANNOT_START  # a crashing run is the Job's business, not ours
            ]
            if problems:  # e.g. the image cannot be pulled: it would never end
                raise RolloutFailed(
                    f"job {self.copy_job}: pod {problems[0].pod} cannot run ({problems[0].reason})",
                    evidence=owners.evidence(self.api, self.options.namespace, problems),
                )
        return self.job_outcome

    def trace(self, state: TraceState) -> tuple[str, Optional[int]]:
        o = self.options
        state.started = state.last_new = time.monotonic()
        process: Optional[subprocess.Popen[bytes]] = None
        exit_code: Optional[int] = None
        reason = INTERRUPTED
        try:
            # Inside the try: a Ctrl-C right after the user reads this line stops the recording.
            self.reporter.phase("tracing; Ctrl-C stops the recording")
            if o.exec_command:
                process = self.start_exec(o.exec_command)
            while True:
                self.drain(state, timeout=0.25)
                view = state.view(agents_down=tuple(self.agents.down()))
                self.reporter.trace(view)
                if o.duration is not None and view.elapsed >= o.duration:
                    reason = f"--duration {o.duration:g}s reached"
                    break
                if o.idle is not None and view.idle >= o.idle:
                    reason = f"no new syscall for --idle {o.idle:g}s"
                    break
                if process is not None and process.poll() is not None:
                    exit_code = process.returncode
                    reason = f"--exec command exited with code {exit_code}"
                    break
                outcome = self.job_ended()
                if outcome is not None:
                    reason = f"job {self.copy_job} ended ({outcome})"
                    if outcome == "Failed":
                        self.warn(f"job {self.copy_job} failed: the profiles hold what it did until then")
                    break
                if self.agents.all_failed():
                    raise NodeCommandFailed(
                        "every node agent stopped while tracing",
                        hint=f"kubectl -n {o.node.namespace} get pods",
                    )
        except KeyboardInterrupt:
            reason = INTERRUPTED
        finally:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                exit_code = process.returncode
            self.reporter.trace_done()
        return reason, exit_code

    def settle(self, state: TraceState) -> None:
        """Read on for ``--settle`` seconds: records made just before the stop are still on their way
        (:meth:`record_shutdown` reads on for longer while the pods stop)."""
        end = time.monotonic() + self.options.settle
        while time.monotonic() < end:
            self.drain(state, timeout=max(end - time.monotonic(), 0.01))
        self.drain(state, timeout=0)  # and what is queued now

    def start_exec(self, command: str) -> subprocess.Popen[bytes]:
        o = self.options
        pods = [p for p in self.workload_pods(newest_only=True) if (p.get("status") or {}).get("phase") == "Running"]
        env = dict(os.environ)
        env.update(
            {
                "KUBECTL_SECCOMP_NAMESPACE": o.namespace,
                "KUBECTL_SECCOMP_KIND": o.kind,
                "KUBECTL_SECCOMP_NAME": o.name,
                "KUBECTL_SECCOMP_DEPLOYMENT": o.name if o.kind == DEPLOYMENT else "",
                "KUBECTL_SECCOMP_PODS": " ".join(p["metadata"]["name"] for p in pods),
                "KUBECTL_SECCOMP_POD_IPS": " ".join((p.get("status") or {}).get("podIP") or "" for p in pods).strip(),
            }
        )
        self.reporter.phase(f"running --exec: {command}")
        try:
            return subprocess.Popen(
                command, shell=True, env=env, stdin=subprocess.DEVNULL, stdout=2, start_new_session=True
            )
        except OSError as error:
            raise InputError(f"--exec {shlex.quote(command)}: cannot start: {error.strerror}") from error

    def begin_stop_followers(self) -> None:
        """Remove the pin's labels, delete the agent pods (SIGTERM: each removes the log profile and
        prints its final counters); :meth:`stop_followers` reads to the end."""
        self.pin.unmark(self.warn)  # before the agents remove the file
        self.agents.begin_stop()

    def stop_followers(self, state: TraceState) -> None:
        """:meth:`begin_stop_followers` (again is harmless) and read the agents' streams to the end."""
        self.begin_stop_followers()
        self.agents.stop(lambda timeout: self.drain(state, timeout))

    handover_timeout = HANDOVER_TIMEOUT

    def hand_over(self, state: TraceState) -> tuple[list[ContainerResult], list[str]]:
        """End the recording while the agents still run, write the profiles and have the agents
        install them (the nodes where they did; install pods do the others in apply_profiles).

        An agent's answer follows, on its stream, every event it printed before: if those add
        calls, the profiles are written and handed over again (the earlier files removed), at most
        ``HANDOVER_ROUNDS`` times; the last round ends the recording first.
        """
        o = self.options
        self.refresh_targets(state)
        sent: set[str] = set()
        for round_number in range(1, HANDOVER_ROUNDS + 1):
            if round_number == HANDOVER_ROUNDS:
                state.close()
            results = self.write(state, quiet=round_number > 1)
            files = profile_files(o.namespace, o.name, usable_profiles(results, o.mode))
            if round_number == 1:
                self.reporter.phase(f"handing {len(files)} profile(s) to the node agents")
            handover = self.agents.hand_over(
                files,
                sorted(sent - set(files)),
                drain=lambda timeout: self.drain(state, timeout),
                answers=lambda: state.handed_over,
                timeout=self.handover_timeout,
            )
            sent |= set(files)
            self.refresh_targets(state)
            now = profile_files(o.namespace, o.name, usable_profiles(self.profiles(state), o.mode))
            if state.closed or now == files:
                break
        state.close()
        for problem in handover.problems:
            self.warn(f"handing the profiles over: {problem}; an install pod puts them there")
        return results, handover.nodes

    def profiles(self, state: TraceState) -> list[ContainerResult]:
        """Each selected container's profile from what ``state`` holds (not written)."""
        o = self.options
        results = []
        for info in self.selected:
            observed = sorted(state.observed.get(info.name, set()))
            if not observed and o.base is None:
                results.append(ContainerResult(info.name, info.init, 0, (), 0, 0, None, None))
                continue
            profile = profile_for(observed, state.runtime_calls, log_denials=o.log_denials)
            if o.base is not None:
                profile = o.base.in_mode(ENFORCE, log_denials=o.log_denials).merge(profile)
            results.append(
                ContainerResult(
                    info.name,
                    info.init,
                    len(profile.allowed_syscalls),
                    profile.architectures,
                    len(state.pods_seen.get(info.name, ())),
                    len(state.nodes_seen.get(info.name, ())),
                    None,
                    profile,
                )
            )
        return results

    def write(self, state: TraceState, *, partial: bool = False, quiet: bool = False) -> list[ContainerResult]:
        """Write :meth:`profiles` into ``--output-dir`` (``quiet``: without the warnings, said already)."""
        o = self.options
        results = []
        for result in self.profiles(state):
            if result.profile is None:
                if not quiet:
                    self.warn(f"container {result.container}: no syscall was traced; no profile written")
                results.append(result)
                continue
            stem = f"{o.name}-{result.container}"
            text = render_profile(result.profile, o.profile_format, resource_name(None, stem))
            suffix = ".partial" if partial else ""  # a gap: the file says it misses calls
            path = o.output_dir / o.namespace / f"{stem}{suffix}.{FILE_EXTENSIONS[o.profile_format]}"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(text)
                tmp.replace(path)
            except OSError as error:
                raise InputError(f"{path}: cannot write: {error.strerror}") from error
            results.append(dataclasses.replace(result, path=path))
        return results

    # -- clean-up -----------------------------------------------------------------

    # -- undo steps, registered on the run's ExitStack as each phase succeeds --------

    def _undo_nodes(self, nodes: list[str]) -> None:
        """Delete the agent pods (each removes the log profile on SIGTERM); remove it where that was not confirmed."""
        o = self.options
        self.stop_followers(self.state)
        self._delete_node_objects()
        left = [node for node in nodes if node not in self.state.log_removed]
        if left:
            try:
                node_ops.remove_profiles(
                    self.api, o.node, run_id=self.run_id, agent=self.agent, nodes=left, paths=[self.log_profile]
                )
            except SeccompError as error:
                self.warn(f"could not remove the log profile: {error.message}; run `kubectl seccomp cleanup`")
            self._delete_node_objects()

    def _delete_node_objects(self) -> None:
        try:
            node_ops.delete_run_objects(self.api, self.options.node, self.run_id)
        except SeccompError as error:
            self.warn(f"could not delete node pods: {error.message}; run `kubectl seccomp cleanup`")

    def _delete_copy_job(self) -> None:
        if self.copy_job is None:
            return
        try:
            self.api.delete_object(JOB, self.options.namespace, self.copy_job)
        except NotFound:
            pass
        except SeccompError as error:
            self.warn(f"could not delete job {self.copy_job}: {error.message}; run `kubectl seccomp cleanup`")

    def _restore_owner(self) -> None:
        """Settings of before the run back (unless applied), lock released."""
        o = self.options
        if self._restore_settings():
            self.reporter.phase(
                f"{o.kind.lower()} {o.name} is back on its previous settings and rolls its pods back "
                f"(kubectl rollout status {short_name(o.kind)}/{o.name} -n {o.namespace})"
            )

    def _restore_settings(self) -> bool:
        """True if the owner's pods roll back by themselves."""
        o = self.options
        try:
            owner = self.api.get_object(o.kind, o.namespace, o.name)
            if self.applied or self.before is None or o.kind not in wl.ROLLING_KINDS:
                owners.patch(self.api, owner, wl.annotation_ops(owner, {wl.RECORDING_ANNOTATION: None}))
                return False
            on_log = any(
                (info.seccomp or {}).get("localhostProfile") == self.log_profile for info in wl.containers(owner)
            )
            if on_log:
                self.reporter.phase(f"putting {wl.describe(owner)} back on its previous seccomp settings")
            restore_settings(
                self.api,
                kind=o.kind,
                namespace=o.namespace,
                name=o.name,
                before=self.before,
                run_id=self.run_id,
                drop_original=self.added_original,
                # the pin goes in the same patch (one rollout); the guard of applied files stays
                guard=self.pin.guard_without(owner),
            )
            if on_log and wl.update_strategy(owner) == "OnDelete":
                # nobody else rolls these pods back: do it, as for the way there
                self.wait_rollout(fail_fast=False)
                return False
            return on_log
        except SeccompError as error:
            self.warn(
                f"could not restore {o.kind.lower()} {o.name}: {error.message}; run "
                f"`kubectl seccomp rollback {short_name(o.kind)}/{o.name} -n {o.namespace}`"
            )
            return False


def usable_profiles(results: list[ContainerResult], mode: str) -> dict[str, Profile]:
    """``{container: profile}`` to apply, in ``mode``."""
    return {r.container: r.profile.in_mode(mode) for r in results if r.profile is not None}


def check_traced(results: list[RecordResult]) -> None:
    """:class:`NothingTraced` if a selected container of any result has no profile (no syscall seen)."""
    untraced = [f"{r.name}/{c.container}" for r in results for c in r.containers if c.profile is None]
    if untraced:
        raise NothingTraced(
            f"no syscall was traced for {len(untraced)} container(s) ({', '.join(untraced)}): no profile for them",
            hint="did they run while we traced? `kubectl seccomp status` and docs/troubleshooting.md say why "
            "a container can escape the log profile",
        )


def record(api: KubeApi, options: RecordOptions, reporter: RecordReporter) -> RecordResult:
    if options.duration is not None and options.duration <= 0:
        raise UsageError("--duration must be positive")
    if options.idle is not None and options.idle <= 0:
        raise UsageError("--idle must be positive")
    with sigterm_as_interrupt():
        return Recorder(api, options, reporter).run()


__all__ = ["ContainerResult", "RecordOptions", "RecordResult", "Recorder", "RolloutFailed", "check_traced", "record"]
