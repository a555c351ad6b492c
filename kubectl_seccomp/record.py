"""The record workflow: from a running Deployment to one tight profile per container.

Phases, each undone if a later one fails or the user presses Ctrl-C:

1. validate the target (exists, not paused, replicas > 0, no recording running)
   and lock it (annotations on the Deployment: the original settings, once,
   and a recording lock);
2. start one agent pod per node a target pod can land on: it installs the log
   profile (``defaultAction: SCMP_ACT_LOG``), then follows the audit records,
   and removes the log profile when it is deleted;
3. wait until every agent has installed the file and reads the records,
   *before* any pod rolls, so that container start-up is traced too;
4. point the selected containers at the log profile and wait for the rollout;
5. trace until Ctrl-C, ``--duration``, ``--idle`` or the ``--exec`` command
   exits, attributing events to containers by the pods' container IDs; then
   (not after Ctrl-C) stop the traced pods with SIGTERM and trace until they
   are gone, so that the apps' shutdown paths are in the profile too;
6. write one profile per container, merged over replicas, nodes and arches;
7. unless ``--no-apply``: install and apply them (``apply.apply_profiles``,
   which rolls back on its own);
8. clean up, shielded from further Ctrl-C: the Deployment back to its
   settings of before the run if it is still on the log profile (its pods roll
   back by themselves), the lock released, the agent pods deleted gracefully
   (each removes the log profile; a remove pod does it where that was not
   confirmed), the run's ConfigMap deleted.

No typer and no printing: progress goes to a :class:`RecordReporter`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from kubectl_seccomp import runtime_policy
from kubectl_seccomp.apply import (
    ApplyResult,
    Reporter,
    agent_zipapp,
    apply_profiles,
    check_deployment,
    lock_value,
    log_path,
    new_run_id,
    restore_settings,
)
from kubectl_seccomp.errors import InputError, SeccompError, UsageError
from kubectl_seccomp.interrupts import shielded, sigterm_as_interrupt
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube import workloads as wl
from kubectl_seccomp.kube.api import KubeApi, LogStream, Obj
from kubectl_seccomp.kube.errors import KubeError, NodeCommandFailed, NotFound, RolloutFailed
from kubectl_seccomp.kube.nodes import NodeSettings
from kubectl_seccomp.profile import Profile
from kubectl_seccomp.trace import Counters, Target, TraceState, TraceView, parse_event

INTERRUPTED = "interrupted (Ctrl-C)"
SHUTDOWN_MARGIN = 15  # seconds past the pods' grace period before record_shutdown stops waiting


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
    timeout: float = 300.0
    source: str = "auto"
    node: NodeSettings = field(default_factory=NodeSettings)
    start_timeout: float = 60.0
    log_denials: bool = False  # SECCOMP_FILTER_FLAG_LOG: runc < 1.1.? refuses profiles with flags
    settle: float = 1.0  # seconds to keep tracing after the stop, for records in flight


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
    deployment: str
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


class _Follower:
    """One node's agent: its pod, its log stream read by a thread into a shared queue."""

    def __init__(self, node: str, pod: str) -> None:
        self.node = node
        self.pod = pod
        self.stream: Optional[LogStream] = None
        self.thread: Optional[threading.Thread] = None
        self.done = threading.Event()

    def start(self, api: KubeApi, settings: NodeSettings, events: queue.Queue[tuple[str, Any]]) -> None:
        self.stream = node_ops.follow(api, settings, self.pod)
        stream = self.stream

        def read() -> None:
            try:
                for line in stream:
                    events.put((self.node, parse_event(line)))
            except Exception as error:  # the stream died: report, do not crash the workflow
                events.put((self.node, f"log stream ended: {error}"))
            finally:
                self.done.set()

        self.thread = threading.Thread(target=read, name=f"follow-{self.node}", daemon=True)
        self.thread.start()


def _container_id(status_entry: Obj) -> Optional[str]:
    raw = status_entry.get("containerID") or ""
    return raw.split("://", 1)[-1].lower() if raw else None


def container_targets(pods: list[Obj]) -> dict[str, Target]:
    """container ID -> which pod/container it is, from the pods' statuses."""
    targets: dict[str, Target] = {}
    for pod in pods:
        status = pod.get("status") or {}
        node = (pod.get("spec") or {}).get("nodeName") or "?"
        for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            for entry in status.get(key) or []:
                cid = _container_id(entry)
                if cid:
                    targets[cid] = Target(pod["metadata"]["name"], entry["name"], init, node)
                last = _container_id(
                    {"containerID": ((entry.get("lastState") or {}).get("terminated") or {}).get("containerID")}
                )
                if last:
                    targets[last] = Target(pod["metadata"]["name"], entry["name"], init, node)
    return targets


class Recorder:
    """One run of ``kubectl seccomp record`` (see the module docstring)."""

    def __init__(
        self, api: KubeApi, options: RecordOptions, reporter: RecordReporter, agent: Optional[bytes] = None
    ) -> None:
        self.api = api
        self.options = options
        self.reporter = reporter
        self.run_id = new_run_id()
        self.log_profile = log_path(options.namespace, options.name)
        self._agent = agent
        self.before: Optional[wl.Originals] = None
        self.added_original = False
        self.locked = False
        self.log_installed_on: list[str] = []
        self.applied = False
        self.followers: list[_Follower] = []
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.warnings: list[str] = []
        self.selected: list[wl.ContainerInfo] = []
        self.touched_nodes = False
        self.state = TraceState(wanted=frozenset())

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
        try:
            return self._run()
        finally:
            self.cleanup()

    def _run(self) -> RecordResult:
        o = self.options
        deployment = self.validate()
        eligible = node_ops.eligible_nodes(self.api, wl.pod_spec(deployment))
        if not eligible:
            raise KubeError(f"no Ready, schedulable node can run pods of deployment {o.name}", hint="kubectl get nodes")
        node_names = [node.name for node in eligible]
        self.lock(deployment)

        # The agent pods install the log profile before they follow, and
        # remove it when they are deleted: no extra pod start-ups.
        self.reporter.phase(
            f"installing the log profile {self.log_profile} and starting the node agent on {len(node_names)} node(s)"
        )
        self.touched_nodes = True
        node_ops.ensure_namespace(self.api, o.node.namespace)
        log_profile = Profile.log_profile(node_ops.arch_names(eligible))
        self.log_installed_on = list(node_names)
        self.state = state = TraceState(wanted=frozenset(info.name for info in self.selected))
        self.start_followers(node_names, state, log_profile.to_json())

        self.reporter.phase(f"pointing {len(self.selected)} container(s) at the log profile; waiting for the rollout")
        deployment = self.api.get_deployment(o.namespace, o.name)
        wl.patch(
            self.api,
            deployment,
            wl.seccomp_ops(
                deployment, {(info.name, info.init): wl.localhost(self.log_profile) for info in self.selected}
            ),
        )
        wl.wait_rollout(
            self.api, namespace=o.namespace, name=o.name, timeout=o.timeout, on_progress=self.reporter.rollout
        )
        self.refresh_targets(state)

        started = time.monotonic()
        stop_reason, exit_code = self.trace(state)
        if stop_reason != INTERRUPTED:
            self.record_shutdown(state)
        traced_for = time.monotonic() - started
        self.stop_followers(state)
        self.refresh_targets(state)
        state.finish()

        results = self.write(state)
        applied = None
        usable = {r.container: r.profile for r in results if r.profile is not None}
        if o.apply and usable:
            before = self.before
            assert before is not None
            self.reporter.phase("applying the recorded profiles")
            applied = apply_profiles(
                self.api,
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
            )
            self.applied = True
        elif o.apply:
            self.warn("no container produced any syscall: nothing to apply")
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
        )

    def validate(self) -> Obj:
        o = self.options
        deployment = wl.get_deployment(self.api, namespace=o.namespace, name=o.name)
        check_deployment(deployment)
        lock = wl.recording_lock(deployment)
        if lock is not None:
            raise UsageError(
                f"a recording of deployment {o.name} is already running (since {lock.get('since', '?')}, "
                f"by {lock.get('host', '?')} pid {lock.get('pid', '?')})",
                hint=f"if it was killed: kubectl seccomp rollback deploy/{o.name} -n {o.namespace} && "
                "kubectl seccomp cleanup",
            )
        self.selected = wl.select_containers(deployment, o.containers)
        return deployment

    def lock(self, deployment: Obj) -> None:
        before = wl.current_originals(deployment)
        self.before = before
        changes: dict[str, Optional[str]] = {wl.RECORDING_ANNOTATION: lock_value(self.run_id, self.log_profile)}
        if wl.read_originals(deployment) is None:
            changes[wl.ORIGINAL_ANNOTATION] = before.to_json()
            self.added_original = True
        self.locked = True
        wl.patch(self.api, deployment, wl.annotation_ops(deployment, changes), guard_version=True)

    def start_followers(self, node_names: list[str], state: TraceState, log_profile: str) -> None:
        o = self.options
        configmap = node_ops.create_payload(self.api, o.node, self.run_id, self.agent, {node_ops.LOG_KEY: log_profile})
        args = ["--source", o.source]
        for node in node_names:
            pod = node_ops.start_follower(
                self.api,
                o.node,
                run_id=self.run_id,
                node=node,
                configmap=configmap,
                args=args,
                log_profile=self.log_profile,
            )
            self.followers.append(_Follower(node, pod))
        for follower in self.followers:
            node_ops.wait_running(self.api, o.node, follower.pod)
            follower.start(self.api, o.node, self.events)
        # Each agent says "start" once it reads the audit source.
        deadline = time.monotonic() + o.start_timeout
        while len(state.sources) < len(self.followers) or len(state.log_installed) < len(self.followers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = [
                    f.node for f in self.followers if f.node not in state.sources or f.node not in state.log_installed
                ]
                raise NodeCommandFailed(
                    f"the node agent did not start reading audit records on {', '.join(missing)}",
                    hint=f"kubectl -n {o.node.namespace} logs -l {node_ops.RUN_LABEL}={self.run_id}",
                )
            self.drain(state, timeout=min(remaining, 0.5))
            if state.errors:
                raise NodeCommandFailed(f"node agent failed: {state.errors[0]}")
            dead = [f for f in self.followers if f.done.is_set() and f.node not in state.sources]
            if dead:
                raise NodeCommandFailed(
                    f"the node agent on {dead[0].node} stopped before it started tracing",
                    hint=f"kubectl -n {o.node.namespace} logs {dead[0].pod}",
                )

    def drain(self, state: TraceState, timeout: float) -> None:
        """Feed queued events into ``state``; wait up to ``timeout`` for the first."""
        unknown_seen = False
        try:
            node, event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if isinstance(event, str):
                self.warn(f"{node}: {event}")
            elif state.feed(node, event):
                unknown_seen = True
            try:
                node, event = self.events.get_nowait()
            except queue.Empty:
                break
        if unknown_seen:
            self._maybe_refresh(state)

    _last_refresh = 0.0

    def _maybe_refresh(self, state: TraceState) -> None:
        if time.monotonic() - self._last_refresh > 2.0:
            self.refresh_targets(state)

    def refresh_targets(self, state: TraceState) -> None:
        deployment = self.api.get_deployment(self.options.namespace, self.options.name)
        # Merged, not replaced: a pod that is gone (stopped by record_shutdown) still has
        # records in flight, and a container ID never changes its meaning.
        state.set_targets({**state.targets, **container_targets(wl.deployment_pods(self.api, deployment))})
        self._last_refresh = time.monotonic()

    def record_shutdown(self, state: TraceState) -> None:
        """Stop the traced pods (SIGTERM) while the agents still trace, and wait until they are gone.

        What an app does when told to stop (signal and reap its worker processes, remove its
        pid file, write its final state) runs only then. Without this the first time it runs is
        the rollout that applies the profile, under the profile: nginx's master, for one, cannot
        setitimer() nor wait4() for its workers and is SIGKILLed at the end of the grace period. The ReplicaSet
        starts replacements, still on the log profile (their start is recorded too); we wait
        for them to be Ready.
        """
        o = self.options
        deployment = self.api.get_deployment(o.namespace, o.name)
        pods = wl.deployment_pods(self.api, deployment, newest_only=True)
        if not pods:
            return
        grace = max(int(p["spec"].get("terminationGracePeriodSeconds", 30)) for p in pods)
        self.reporter.phase(f"recording the shutdown: stopping {len(pods)} pod(s) with SIGTERM (grace {grace}s)")
        remaining = {p["metadata"]["name"] for p in pods}
        for name in sorted(remaining):
            with contextlib.suppress(NotFound):  # already going
                self.api.delete_pod(o.namespace, name)
        deadline = time.monotonic() + grace + SHUTDOWN_MARGIN
        while True:
            remaining &= {p["metadata"]["name"] for p in wl.deployment_pods(self.api, deployment)}
            if not remaining or time.monotonic() > deadline:
                break
            self.drain(state, timeout=1.0)
        if remaining:
            self.warn(f"pod(s) still stopping after {grace + SHUTDOWN_MARGIN}s: {', '.join(sorted(remaining))}")
        # The replacements must have their containers (and so their filters) before the agents
        # stop and remove the log profile, or they fail with CreateContainerError and the
        # rollout that applies the profile sees them fail.
        wl.wait_rollout(
            self.api, namespace=o.namespace, name=o.name, timeout=o.timeout, on_progress=self.reporter.rollout
        )

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
                view = state.view()
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
                if self.followers and all(f.done.is_set() for f in self.followers):
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
        # Records made just before the stop are still on their way.
        end = time.monotonic() + o.settle
        while time.monotonic() < end:
            self.drain(state, timeout=max(end - time.monotonic(), 0.01))
        return reason, exit_code

    def start_exec(self, command: str) -> subprocess.Popen[bytes]:
        o = self.options
        deployment = self.api.get_deployment(o.namespace, o.name)
        pods = [
            p
            for p in wl.deployment_pods(self.api, deployment, newest_only=True)
            if (p.get("status") or {}).get("phase") == "Running"
        ]
        env = dict(os.environ)
        env.update(
            {
                "KUBECTL_SECCOMP_NAMESPACE": o.namespace,
                "KUBECTL_SECCOMP_DEPLOYMENT": o.name,
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

    def stop_followers(self, state: TraceState) -> None:
        """Delete the agent pods (SIGTERM: each prints its final counters) and read to the end."""
        for follower in self.followers:
            node_ops.delete_pod_quietly(self.api, self.options.node.namespace, follower.pod)
        streaming = [f for f in self.followers if f.thread is not None]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(f.done.is_set() for f in streaming):
            self.drain(state, timeout=0.2)
        for follower in self.followers:
            if follower.stream is not None:
                follower.stream.close()
        self.drain(state, timeout=0.01)

    def write(self, state: TraceState) -> list[ContainerResult]:
        o = self.options
        results = []
        for info in self.selected:
            observed = sorted(state.observed.get(info.name, set()))
            if not observed:
                self.warn(f"container {info.name}: no syscall was traced; no profile written")
                results.append(ContainerResult(info.name, info.init, 0, (), 0, 0, None, None))
                continue
            extra = runtime_policy.additions(observed, state.runtime_calls)
            profile = Profile.from_observations(sorted(set(observed) | extra), log_denials=o.log_denials)
            path = o.output_dir / o.namespace / f"{o.name}-{info.name}.json"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(profile.to_json())
                tmp.replace(path)
            except OSError as error:
                raise InputError(f"{path}: cannot write: {error.strerror}") from error
            results.append(
                ContainerResult(
                    info.name,
                    info.init,
                    len(profile.allowed_syscalls),
                    profile.architectures,
                    len(state.pods_seen.get(info.name, ())),
                    len(state.nodes_seen.get(info.name, ())),
                    path,
                    profile,
                )
            )
        return results

    # -- clean-up -----------------------------------------------------------------

    def cleanup(self) -> None:
        """Put back what this run changed, whatever happened; Ctrl-C cannot cut it short."""
        o = self.options
        with shielded(self.reporter.warn):
            on_log = self._restore_deployment()
            # Deleted gracefully, each agent pod stops and removes the log profile.
            self.stop_followers(self.state)
            if self.touched_nodes:
                self._delete_node_objects()
            left = [node for node in self.log_installed_on if node not in self.state.log_removed]
            if left:
                try:
                    node_ops.remove_profiles(
                        self.api,
                        o.node,
                        run_id=self.run_id,
                        agent=self.agent,
                        nodes=left,
                        paths=[self.log_profile],
                    )
                except SeccompError as error:
                    self.warn(f"could not remove the log profile: {error.message}; run `kubectl seccomp cleanup`")
                self._delete_node_objects()
            if on_log:
                self.reporter.phase(
                    f"deployment {o.name} is back on its previous settings and rolls its pods back "
                    f"(kubectl rollout status deploy/{o.name} -n {o.namespace})"
                )

    def _delete_node_objects(self) -> None:
        try:
            node_ops.delete_run_objects(self.api, self.options.node, self.run_id)
        except SeccompError as error:
            self.warn(f"could not delete node pods: {error.message}; run `kubectl seccomp cleanup`")

    def _restore_deployment(self) -> bool:
        """Settings of before the run back (unless applied), lock released; True if it rolls."""
        o = self.options
        if not self.locked:
            return False
        try:
            deployment = self.api.get_deployment(o.namespace, o.name)
            if self.applied or self.before is None:
                wl.patch(self.api, deployment, wl.annotation_ops(deployment, {wl.RECORDING_ANNOTATION: None}))
                return False
            on_log = any(
                (info.seccomp or {}).get("localhostProfile") == self.log_profile for info in wl.containers(deployment)
            )
            if on_log:
                self.reporter.phase("putting the deployment back on its previous seccomp settings")
            restore_settings(
                self.api,
                namespace=o.namespace,
                name=o.name,
                before=self.before,
                run_id=self.run_id,
                drop_original=self.added_original,
            )
            return on_log
        except SeccompError as error:
            self.warn(
                f"could not restore deployment {o.name}: {error.message}; run "
                f"`kubectl seccomp rollback deploy/{o.name} -n {o.namespace}`"
            )
            return False


def record(api: KubeApi, options: RecordOptions, reporter: RecordReporter) -> RecordResult:
    if options.duration is not None and options.duration <= 0:
        raise UsageError("--duration must be positive")
    if options.idle is not None and options.idle <= 0:
        raise UsageError("--idle must be positive")
    with sigterm_as_interrupt():
        return Recorder(api, options, reporter).run()


__all__ = ["ContainerResult", "RecordOptions", "RecordResult", "Recorder", "RolloutFailed", "record"]
