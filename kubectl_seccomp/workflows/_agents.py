"""The node agents' side that ``record`` and ``watch`` share: one agent pod per
node whose log stream a thread reads into a queue, watched while it traces, and
the map from container IDs to the pods and containers they belong to.

Watching the agents (:meth:`Agents.supervise`): a log stream that ends while we
trace is looked into at once. If the pod still runs (the kubelet or the API
server restarted, the connection broke) we follow its log again: the log on the
node kept every line, so nothing is missing. If the pod is gone, failed or
terminating (deleted, evicted) and its node is still Ready, a new agent pod
starts there; the time from the end of the old stream until the new agent reads
the audit source is a *gap*: records of that node in it are lost. A NotReady
node is looked at again every few seconds: if its agent ran on, its log fills
the time in once the node is back; a stream not followed again by the end of
the recording counts as a gap from its loss to the end. Each change is one
message for the live view.

Handing profiles over (:meth:`Agents.hand_over`): a recording's agents have
the kubelet's seccomp directory mounted, so they install the recorded profiles
(see :mod:`kubectl_seccomp.agent.handover`) where an install pod would take
seconds to start. Their answer comes on the log stream we follow, after every
event they printed before it.
"""

from __future__ import annotations

import hashlib
import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kubectl_seccomp.errors import SeccompError
from kubectl_seccomp.kube import nodes as node_ops
from kubectl_seccomp.kube.api import KubeApi, LogStream, Obj
from kubectl_seccomp.kube.errors import NodeCommandFailed
from kubectl_seccomp.kube.node_pods import HANDOVER_ANNOTATION
from kubectl_seccomp.kube.nodes import NodeSettings, Payload
from kubectl_seccomp.targets import POD
from kubectl_seccomp.trace import HandedOver, Start, Target, parse_event

RECHECK = 2.0  # seconds between looks at an agent that is not following
MAX_ATTEMPTS = 5  # agent pods per node in one run: a pod that keeps dying is not worth a sixth
HANDOVER_TIMEOUT = 10.0  # seconds for the agents' answers (the kubelet's update of the file takes < 1)
MAX_HANDOVER = 200_000  # bytes of a request: the API server takes 256 KiB of annotations per object


@dataclass
class Gap:
    """A time (``time.monotonic()``) when a node's audit records were not read."""

    start: float
    end: Optional[float] = None

    def seconds(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start


class AgentFollower:
    """One node's agent: its pod, its log stream read by a thread into a shared queue."""

    def __init__(self, node: str, pod: str, parse: Callable[[str], Any] = parse_event) -> None:
        self.node = node
        self.parse = parse
        self.pod = pod
        self.stream: Optional[LogStream] = None
        self.thread: Optional[threading.Thread] = None
        self.done = threading.Event()
        self.reading: Optional[float] = None  # when the agent said it reads the audit source
        self.attempt = 1
        self.lost_at: Optional[float] = None  # the stream ended then; not followed since
        self.starting = False  # a replacement pod was created, its log is not followed yet
        self.failed = False  # given up on this node
        self.gaps: list[Gap] = []
        self.next_check = 0.0
        self.said_not_ready = False

    def start(self, api: KubeApi, settings: NodeSettings, events: queue.Queue[tuple[str, Any]]) -> None:
        self.stream = node_ops.follow(api, settings, self.pod)
        stream = self.stream
        done = self.done = threading.Event()

        def read() -> None:
            try:
                for line in stream:
                    event = self.parse(line)
                    if isinstance(event, Start):
                        self.reading = time.monotonic()
                    events.put((self.node, event))
            except Exception as error:  # the stream died: report, do not crash the workflow
                events.put((self.node, f"log stream ended: {error}"))
            finally:
                done.set()

        self.thread = threading.Thread(target=read, name=f"follow-{self.node}", daemon=True)
        self.thread.start()

    @property
    def following(self) -> bool:
        return self.thread is not None and not self.done.is_set()

    def gap_seconds(self, now: float) -> float:
        return sum(gap.seconds(now) for gap in self.gaps)


@dataclass(frozen=True)
class NodeCoverage:
    """What one node's agent traced: for how long, and the time it did not."""

    node: str
    traced: float
    gap: float
    agents: int  # agent pods it took


@dataclass
class Handover:
    """What :meth:`Agents.hand_over` achieved: nodes whose agent wrote exactly the files, and why
    the others did not."""

    nodes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Agents:
    """One run's agent pods: started on each node, watched while they trace, stopped at the end."""

    def __init__(
        self,
        api: KubeApi,
        settings: NodeSettings,
        *,
        run_id: str,
        args: list[str],
        parse: Callable[[str], Any] = parse_event,
        log_profile: Optional[str] = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.run_id = run_id
        self.args = args
        self.parse = parse
        self.log_profile = log_profile
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.followers: list[AgentFollower] = []
        self.stopping = False
        self.configmap: Optional[Payload] = None

    def _start_pod(self, node: str, attempt: int) -> str:
        assert self.configmap is not None
        return node_ops.start_follower(
            self.api,
            self.settings,
            run_id=self.run_id,
            node=node,
            configmap=self.configmap,
            args=self.args,
            log_profile=self.log_profile,
            attempt=attempt,
        )

    def start(
        self,
        nodes: list[str],
        configmap: Payload,
        *,
        drain: Callable[[float], None],
        errors: Callable[[], list[str]],
        ready: Callable[[str], bool] = lambda _node: True,
        timeout: float = 60.0,
    ) -> None:
        """One agent per node, each followed; wait until every one reads its audit source
        (and ``ready(node)``), feeding what they print to ``drain``."""
        self.configmap = configmap
        for node in nodes:
            self.followers.append(AgentFollower(node, self._start_pod(node, 1), self.parse))
        for follower in self.followers:
            node_ops.wait_running(self.api, self.settings, follower.pod)
            follower.start(self.api, self.settings, self.events)
        # Each agent says "start" once it reads the audit source.
        deadline = time.monotonic() + timeout
        while True:
            missing = [f.node for f in self.followers if f.reading is None or not ready(f.node)]
            if not missing:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NodeCommandFailed(
                    f"the node agent did not start reading audit records on {', '.join(missing)}",
                    hint=f"kubectl -n {self.settings.namespace} logs -l {node_ops.RUN_LABEL}={self.run_id}",
                )
            drain(min(remaining, 0.3))
            if errors():
                raise NodeCommandFailed(f"node agent failed: {errors()[0]}")
            dead = [f for f in self.followers if f.done.is_set() and f.reading is None]
            if dead:
                raise node_ops.stopped_early(self.api, self.settings, dead[0].pod, f"on {dead[0].node}")

    def supervise(self) -> list[str]:
        """Look after agents whose stream ended (see the module docstring); what changed, as messages."""
        if self.stopping:
            return []
        now = time.monotonic()
        messages: list[str] = []
        for f in self.followers:
            if f.failed:
                continue
            if f.lost_at is not None and f.following and f.reading is not None:
                if f.gaps and f.gaps[-1].end is None:
                    f.gaps[-1].end = f.reading
                    messages.append(
                        f"{f.node}: new agent {f.pod} traces; records of {f.gaps[-1].seconds(now):.0f}s were not read"
                    )
                else:
                    messages.append(f"{f.node}: following agent {f.pod} again; nothing was missed")
                f.lost_at = None
                f.said_not_ready = False
            if f.following or self.stopping:
                continue
            if f.lost_at is None and not f.starting:
                f.lost_at = now
                f.next_check = now
                messages.append(f"{f.node}: lost the agent's log stream ({f.pod}); looking into it")
            if now >= f.next_check:
                f.next_check = now + RECHECK
                messages.extend(self._recover(f, now))
        return messages

    def _recover(self, f: AgentFollower, now: float) -> list[str]:
        assert f.lost_at is not None
        try:
            if not node_ops.node_ready(self.api, f.node):
                # Its agent may run on (only the kubelet away): if it does, its log fills the time in
                # once we follow it again; if not, the time counts as a gap (see coverage()).
                if f.said_not_ready:
                    return []
                f.said_not_ready = True
                return [f"{f.node}: node is NotReady; not traced until it is back"]
            state = node_ops.agent_state(self.api, self.settings, f.pod)
            if state == "Running":
                f.reading = None
                f.start(self.api, self.settings, self.events)  # the whole log again: nothing lost
                f.starting = False
                return []
            if f.starting and state == "Pending":
                return []
            self._open_gap(f)
            if f.attempt >= MAX_ATTEMPTS:
                f.failed = True
                return [f"{f.node}: agent {f.pod} {state}; gave up after {f.attempt} agent pods: not traced"]
            old = f.pod
            f.attempt += 1
            f.reading = None
            f.pod = self._start_pod(f.node, f.attempt)
            f.starting = True
            return [f"{f.node}: agent {old} {state}; starting a new one ({f.pod})"]
        except SeccompError as error:  # the API server or the kubelet is away: look again later
            if f.said_not_ready:
                return []
            f.said_not_ready = True
            return [f"{f.node}: cannot follow agent {f.pod} yet: {error.message}"]

    @staticmethod
    def _open_gap(f: AgentFollower) -> None:
        if f.lost_at is not None and not (f.gaps and f.gaps[-1].end is None):
            f.gaps.append(Gap(f.lost_at))

    def all_failed(self) -> bool:
        return bool(self.followers) and all(f.failed for f in self.followers)

    def down(self) -> list[str]:
        """Nodes whose agent is not being followed right now (for the live view)."""
        return [f.node for f in self.followers if not f.following]

    def coverage(self, started: float, ended: float) -> list[NodeCoverage]:
        """Per node: seconds traced and not, between ``started`` and ``ended``."""
        result = []
        for f in self.followers:
            if f.lost_at is not None and not f.following:
                self._open_gap(f)  # not followed again by the end: whatever happened there, it was not read
            gap = sum(
                max(0.0, min(g.end if g.end is not None else ended, ended) - max(g.start, started)) for g in f.gaps
            )
            result.append(NodeCoverage(f.node, max(0.0, ended - started - gap), gap, f.attempt))
        return result

    def hand_over(
        self,
        install: dict[str, str],
        remove: list[str],
        *,
        drain: Callable[[float], None],
        answers: Callable[[], dict[str, HandedOver]],
        timeout: float = HANDOVER_TIMEOUT,
    ) -> Handover:
        """Have every followed agent write ``install`` (``{path: profile JSON}``) and delete ``remove``;
        wait up to ``timeout`` for their answers (read by ``drain`` into ``answers()``)."""
        if not install and not remove:
            return Handover()
        request = secrets.token_hex(6)
        body = json.dumps({"id": request, "install": install, "remove": remove}, separators=(",", ":"))
        result = Handover()
        if len(body) > MAX_HANDOVER:
            result.problems.append(f"the profiles are too large to hand over ({len(body)} bytes)")
            return result
        expected = {path: hashlib.sha256(text.encode()).hexdigest() for path, text in install.items()}
        key = "/metadata/annotations/" + HANDOVER_ANNOTATION.replace("~", "~0").replace("/", "~1")
        asked: dict[str, str] = {}
        for f in self.followers:
            if f.failed or not f.following or f.reading is None:
                continue
            try:
                self.api.patch_object(POD, self.settings.namespace, f.pod, [{"op": "add", "path": key, "value": body}])
            except SeccompError as error:
                result.problems.append(f"{f.node}: {error.message}")
                continue
            asked[f.node] = f.pod
        deadline = time.monotonic() + timeout
        waiting = set(asked)
        while waiting:
            for node in sorted(waiting):
                answer = answers().get(node)
                if answer is None or answer.request != request:
                    continue
                waiting.discard(node)
                if answer.failure is not None:
                    result.problems.append(f"{node}: {answer.failure}")
                elif answer.files != expected:
                    result.problems.append(f"{node}: the agent wrote other files than were sent")
                else:
                    result.nodes.append(node)
            remaining = deadline - time.monotonic()
            if not waiting:
                break
            if remaining <= 0:
                result.problems.extend(f"{node}: agent {asked[node]} did not answer" for node in sorted(waiting))
                break
            drain(min(remaining, 0.1))
        return result

    def begin_stop(self) -> None:
        """Delete the agent pods (SIGTERM: each prints its final counters); :meth:`stop` reads to the end."""
        if self.stopping:
            return
        self.stopping = True
        for follower in self.followers:
            node_ops.delete_pod_quietly(self.api, self.settings.namespace, follower.pod)

    def stop(self, drain: Callable[[float], None], wait: float = 20.0) -> None:
        """:meth:`begin_stop` (unless begun) and read the agents' streams to the end."""
        self.begin_stop()
        streaming = [f for f in self.followers if f.thread is not None]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not all(f.done.is_set() for f in streaming):
            drain(0.2)
        for follower in self.followers:
            if follower.stream is not None:
                follower.stream.close()
        drain(0.01)


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
