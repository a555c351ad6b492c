#!/usr/bin/env python3
"""A real Kubernetes cluster on this machine, for the end-to-end tests.

    python3 tests/cluster/harness.py build       # build (or find cached) the current stack's binaries
    python3 tests/cluster/harness.py up          # start the cluster, wait until nodes are Ready
    python3 tests/cluster/harness.py status      # what runs, exit 1 if the cluster is not up
    python3 tests/cluster/harness.py kubeconfig  # print the admin kubeconfig path
    python3 tests/cluster/harness.py add-node    # join one more node (its own containerd, netns, root dir)
    python3 tests/cluster/harness.py remove-node # take the node added last away again (`down` stops it too)
    python3 tests/cluster/harness.py down        # stop everything, unmount, remove state

``build`` and ``up`` take ``--stack`` (default ``current``, or ``KSC_STACK``):

* ``current``: Kubernetes v1.37.2, containerd v2.4.2, runc v1.4.0, etcd v3.6.8,
  all built here from their Go modules (k8sbuild.py).
* ``oldest``: Kubernetes v1.30.14 (built here) with Debian 12's etcd 3.4,
  containerd 1.6 and runc 1.1.5, the oldest versions the plugin supports.

Both run the same layout, images and fixtures; only the binaries and the
containerd and kubelet configuration that their versions need differ.

What runs (every process is started here and recorded by PID in STATE/pids/;
STATE is /var/lib/ksc-cluster unless KSC_CLUSTER_DIR says otherwise):

* etcd on 127.0.0.1:23790, plain HTTP, data in STATE/etcd.
* kube-apiserver on 0.0.0.0:6443 (Node,RBAC authorization, NodeRestriction,
  service-account tokens), kube-controller-manager, kube-scheduler.
* Per node: containerd (runc by default; on the oldest stack Debian's crun for
  the RuntimeClass ``crun``; the CNI bridge plugin), a
  kubelet (cgroupfs driver) and kube-proxy (iptables). Each node lives in its
  own mount namespace in which its own directories are bind-mounted over
  /var/lib/kubelet, /var/log/pods, /var/log/containers and /run/netns, so
  hostPath volumes, the kubelet's seccomp directory and pod logs are per node,
  as on separate machines. Node 1 uses the host network namespace (address
  10.200.0.1 on bridge ksc0); node 2 gets the network namespace ``ksc-node2``
  (10.200.0.2, a veth on ksc0). Pod subnets: 10.244.<n-1>.0/24 through a CNI
  bridge, routed between nodes by the host.
* Images come from local archives (images.py), never from a registry.

From the host, node N's /var/lib/kubelet/seccomp is
STATE/nodes/ksc-nodeN/mounts/var-lib-kubelet/seccomp; ``status --json`` lists
it. ``up`` on a running cluster only waits for it to be ready. Daemon logs go to
/var/log/ksc-cluster/ and survive ``down`` (the next ``up`` clears them).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images
import k8sbuild
import pki

STATE = Path(os.environ.get("KSC_CLUSTER_DIR", "/var/lib/ksc-cluster"))
RUN = Path("/run/ksc-cluster")
LOGS = Path("/var/log/ksc-cluster")
KUBECONFIG = STATE / "kubeconfig"
CLUSTER_JSON = STATE / "cluster.json"
STACK_FILE = STATE / "stack"  # not in cluster.json, which a harness without stacks rewrites

HOST_BRIDGE = "ksc0"
HOST_IP = "10.200.0.1"
ETCD_CLIENT = "http://127.0.0.1:23790"
ETCD_PEER = "http://127.0.0.1:23800"
API_PORT = 6443
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
SERVICE_IP = "10.96.0.1"
CLUSTER_DNS = "10.96.0.10"
CNI_BIN = "/usr/lib/cni"
CRUN = "/usr/bin/crun"  # Debian's: the second runtime handler, RuntimeClass "crun" (Stack.runtime_classes)
READY_TIMEOUT = float(os.environ.get("KSC_READY_TIMEOUT", "180"))
NODE_PATHS = ("/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/run/netns")


class HarnessError(Exception):
    """A failure with a message for the user; main() prints it and exits 1."""


@dataclass(frozen=True)
class Stack:
    """The versions of one cluster: Kubernetes, and the runtime pieces built here or taken from Debian."""

    name: str
    kubernetes: str
    built: tuple[k8sbuild.GoProgram, ...] = ()  # containerd, runc, etcd built here; the others are Debian's
    summary: str = ""

    @property
    def programs(self) -> tuple[k8sbuild.GoProgram, ...]:
        return (k8sbuild.kubernetes(self.kubernetes), *self.built)

    def _binary(self, program: str, command: str, debian: str) -> str:
        for p in self.built:
            if p.name == program:
                return str(p.binary(command))
        return debian

    @property
    def etcd(self) -> str:
        return self._binary("etcd", "etcd", "/usr/bin/etcd")

    @property
    def containerd(self) -> str:
        return self._binary("containerd", "containerd", "/usr/bin/containerd")

    @property
    def ctr(self) -> str:
        return self._binary("containerd", "ctr", "/usr/bin/ctr")

    @property
    def shim(self) -> str:
        """containerd-shim-runc-v2 (containerd looks it up in PATH when it is Debian's)."""
        return self._binary("containerd", "containerd-shim-runc-v2", "")

    @property
    def runc(self) -> str:
        return self._binary("runc", "runc", "/usr/sbin/runc")

    @property
    def kube_bin(self) -> Path:
        return k8sbuild.bin_dir(self.kubernetes)

    @property
    def kube_minor(self) -> int:
        return int(self.kubernetes.split(".")[1])

    @property
    def containerd_v2(self) -> bool:
        return any(p.name == "containerd" and p.version.startswith("v2.") for p in self.built)

    def is_built(self) -> bool:
        return all(p.is_built() for p in self.programs)

    @property
    def runtime_classes(self) -> tuple[str, ...]:
        """RuntimeClasses besides the default runc: Debian's crun where it can run containerd's specs.

        crun 1.8.1 refuses OCI runtime-spec 1.2 and newer ("unknown version specified"), and
        containerd 2.x writes 1.2 or newer for every container and sandbox.
        """
        return () if self.containerd_v2 else ("crun",)


STACKS = {
    "current": Stack(
        "current",
        "v1.37.2",
        (k8sbuild.containerd("v2.4.2"), k8sbuild.runc("v1.4.0"), k8sbuild.etcd("v3.6.8")),
        "Kubernetes v1.37.2, containerd v2.4.2, runc v1.4.0, etcd v3.6.8 (built here)",
    ),
    "oldest": Stack(
        "oldest",
        "v1.30.14",
        (),
        "Kubernetes v1.30.14 (built here), Debian 12's containerd 1.6, runc 1.1.5 and etcd 3.4",
    ),
}
DEFAULT_STACK = os.environ.get("KSC_STACK", "current")


@dataclass(frozen=True)
class Node:
    """One kubelet + containerd pair and where its files live."""

    index: int  # 1-based

    @property
    def name(self) -> str:
        return f"ksc-node{self.index}"

    @property
    def ip(self) -> str:
        return f"10.200.0.{self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index - 1}.0/24"

    @property
    def netns(self) -> str | None:
        """Node 1 shares the host network namespace; the others get their own."""
        return None if self.index == 1 else self.name

    @property
    def dir(self) -> Path:
        return STATE / "nodes" / self.name

    @property
    def run(self) -> Path:
        return RUN / self.name

    @property
    def socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def cgroup_root(self) -> str:
        return "/" if self.index == 1 else f"/{self.name}"

    def bind_source(self, path: str) -> Path:
        return self.dir / "mounts" / path.strip("/").replace("/", "-")

    def seccomp_dir(self) -> Path:
        return self.bind_source("/var/lib/kubelet") / "seccomp"


# ---------------------------------------------------------------- processes


def pid_file(name: str) -> Path:
    return STATE / "pids" / f"{name}.pid"


def running_pid(name: str) -> int | None:
    """The PID recorded for ``name`` if that process still runs the same program."""
    try:
        pid_text, exe = pid_file(name).read_text().split(maxsplit=1)
        cmdline = Path(f"/proc/{pid_text}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError):
        return None
    return int(pid_text) if cmdline and cmdline[0].decode() == exe.strip() else None


def recorded_names() -> list[str]:
    """Process names in the order they were started."""
    order = STATE / "pids" / "order"
    return order.read_text().split() if order.exists() else []


def start(
    name: str,
    argv: list[str],
    *,
    netns: str | None = None,
    mount_ns_of: str | None = None,
    expect: str | None = None,
) -> int:
    """Start a daemon, log to LOGS/name.log, record its PID; return the PID.

    ``mount_ns_of`` names an already started process whose mount (and network)
    namespaces the daemon joins, via nsenter, which execs in place: the PID we
    record is the daemon's own. ``expect`` is the argv[0] the process ends up
    with when ``argv`` execs another program.
    """
    expect = expect or argv[0]
    prefix: list[str] = []
    if mount_ns_of is not None:
        holder = running_pid(mount_ns_of)
        if holder is None:
            raise HarnessError(f"{mount_ns_of} is not running; cannot start {name}")
        prefix = ["nsenter", f"--target={holder}", "--mount", "--net", "--"]
    elif netns is not None:
        # Not `ip netns exec`: it remounts /sys, hiding the cgroup hierarchies.
        prefix = ["nsenter", f"--net=/run/netns/{netns}", "--"]
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            prefix + argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # nsenter, unshare and sh exec in place: wait until /proc shows the final program.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            argv0 = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except FileNotFoundError:
            raise HarnessError(f"{name} exited at once; see {LOGS / f'{name}.log'}") from None
        if argv0 == expect:
            break
        time.sleep(0.05)
    pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    pid_file(name).write_text(f"{proc.pid} {expect}\n")
    with open(STATE / "pids" / "order", "a") as order:
        order.write(name + "\n")
    return proc.pid


def stop(name: str, timeout: float = 20) -> None:
    """SIGTERM the recorded process, SIGKILL after ``timeout``."""
    pid = running_pid(name)
    if pid is not None:
        print(f"down: stopping {name} (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running_pid(name) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if running_pid(name) is not None:
            os.kill(pid, signal.SIGKILL)
            while running_pid(name) is not None:
                time.sleep(0.1)
    pid_file(name).unlink(missing_ok=True)


def run(argv: list[str], *, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    result = subprocess.run(prefix + argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["kubectl", f"--kubeconfig={KUBECONFIG}", *args], check=check)


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, hint: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        dead = [name for name in recorded_names() if running_pid(name) is None]
        if dead:
            logs = ", ".join(str(LOGS / f"{name}.log") for name in dead)
            raise HarnessError(f"{', '.join(dead)} exited while waiting for {what}; see {logs}")
        time.sleep(1)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}. {hint}")


# ---------------------------------------------------------------- configuration files


def write_kubeconfig(path: Path, user: str, cert: Path, key: Path, server: str) -> None:
    """A kubeconfig with the credentials embedded, so it can be copied anywhere."""

    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    cluster = {"server": server, "certificate-authority-data": b64(STATE / "pki" / "ca.crt")}
    credentials = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "ksc", "cluster": cluster}],
                "users": [{"name": user, "user": credentials}],
                "contexts": [{"name": "ksc", "context": {"cluster": "ksc", "user": user}}],
                "current-context": "ksc",
            },
            indent=2,
        )
    )


def make_pki(nodes: list[Node]) -> None:
    d = STATE / "pki"
    pki.make_ca(d)
    pki.make_service_account_keys(d)
    pki.make_cert(
        d,
        "apiserver",
        cn="kube-apiserver",
        server=True,
        dns=(
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        ),
        ips=("127.0.0.1", HOST_IP, SERVICE_IP),
    )
    pki.make_cert(d, "apiserver-kubelet-client", cn="kube-apiserver-kubelet-client", org="system:masters")
    local = f"https://127.0.0.1:{API_PORT}"
    for user, cn, org in (
        ("admin", "kubernetes-admin", "system:masters"),
        ("controller-manager", "system:kube-controller-manager", None),
        ("scheduler", "system:kube-scheduler", None),
        ("kube-proxy", "system:kube-proxy", None),  # bound to system:node-proxier by RBAC's defaults
    ):
        crt, key = pki.make_cert(d, user, cn=cn, org=org)
        target = KUBECONFIG if user == "admin" else STATE / f"{user}.kubeconfig"
        server = f"https://{HOST_IP}:{API_PORT}" if user == "kube-proxy" else local
        write_kubeconfig(target, user, crt, key, server)
    for node in nodes:
        node_pki(node)


def node_pki(node: Node) -> None:
    """The kubelet's client kubeconfig and serving certificate, signed by the cluster's CA."""
    d = STATE / "pki"
    crt, key = pki.make_cert(d, f"{node.name}-client", cn=f"system:node:{node.name}", org="system:nodes")
    write_kubeconfig(node.dir / "kubeconfig", node.name, crt, key, f"https://{HOST_IP}:{API_PORT}")
    pki.make_cert(d, f"{node.name}-serving", cn=node.name, server=True, dns=(node.name,), ips=(node.ip,))


def _containerd_sockets(node: Node) -> str:
    """The sections both configuration versions share: the node's own sockets and opt directory."""
    return f"""\
[grpc]
  address = "{node.socket}"

[ttrpc]
  address = "{node.run / "containerd.sock.ttrpc"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{node.dir / "opt"}"
"""


def containerd_config(node: Node, stack: Stack) -> str:
    """containerd's configuration: version 3 for containerd 2.x, version 2 for 1.x."""
    if stack.containerd_v2:
        return containerd_config_v3(node, stack)
    return f"""\
version = 2
root = "{node.dir / "containerd"}"
state = "{node.run / "containerd"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

{_containerd_sockets(node)}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_IMAGE}"
  enable_selinux = false
  # Kubelets ask for negative oom_score_adj (-998 for sandboxes); lowering it
  # needs CAP_SYS_RESOURCE, which some VMs (ours) drop from the bounding set.
  # This clamps the value at containerd's own, as for rootless containerd.
  restrict_oom_score_adj = {_toml_bool(not has_sys_resource())}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{stack.runc}"
        SystemdCgroup = false
    # The RuntimeClass crun: Debian's crun through the same shim.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
        BinaryName = "{CRUN}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{node.dir / "cni"}"
"""


def containerd_config_v3(node: Node, stack: Stack) -> str:
    """containerd 2.x: the CRI options moved to the cri.v1.images and cri.v1.runtime plugins.

    Version 3 is what containerd 2.0-2.3 write. 2.4 reads it and logs that it migrated it to its
    version 4, which renames only sections we do not set.
    """
    runtime = 'plugins."io.containerd.cri.v1.runtime"'
    return f"""\
version = 3
root = "{node.dir / "containerd"}"
state = "{node.run / "containerd"}"
# NRI would listen on /var/run/nri/nri.sock, one path for every node's containerd.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.nri.v1.nri"]

{_containerd_sockets(node)}
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{images.PAUSE_IMAGE}"

[{runtime}]
  enable_selinux = false
  # See the version 2 configuration above.
  restrict_oom_score_adj = {_toml_bool(not has_sys_resource())}
  [{runtime}.containerd]
    default_runtime_name = "runc"
    [{runtime}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      # The shim built with this containerd, not Debian's 1.6 one from PATH.
      runtime_path = "{stack.shim}"
      [{runtime}.containerd.runtimes.runc.options]
        BinaryName = "{stack.runc}"
        SystemdCgroup = false
    # No crun handler: see Stack.runtime_classes.
  [{runtime}.cni]
    bin_dirs = ["{CNI_BIN}"]
    conf_dir = "{node.dir / "cni"}"
"""


def _toml_bool(value: bool) -> str:
    return "true" if value else "false"


def kube_proxy_config(node: Node) -> str:
    return json.dumps(
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(STATE / "kube-proxy.kubeconfig")},
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "hostnameOverride": node.name,
            "bindAddress": node.ip,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # Leave host sysctls alone: no conntrack table sizing, no route_localnet for NodePorts.
            "conntrack": {"maxPerCore": 0},
            "nodePortAddresses": ["10.200.0.0/24"],
        },
        indent=2,
    )


def has_sys_resource() -> bool:
    """Whether this process may lower oom_score_adj (CAP_SYS_RESOURCE, bit 24)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def cni_config(node: Node) -> str:
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "ksc",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": node.pod_cidr}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(node.dir / "cni-ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        },
        indent=2,
    )


def kubelet_config(node: Node, stack: Stack) -> str:
    d = STATE / "pki"
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(d / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(d / f"{node.name}-serving.crt"),
        "tlsPrivateKeyFile": str(d / f"{node.name}-serving.key"),
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup_root,
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": "cluster.local",
        "failSwapOn": False,
        "resolvConf": "/etc/resolv.conf" if Path("/etc/resolv.conf").exists() else "",
        # No registry: never garbage-collect images, never evict on a full disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "0%",
            "nodefs.inodesFree": "0%",
            "imagefs.available": "0%",
        },
        "serializeImagePulls": False,
        "protectKernelDefaults": False,
    }
    if stack.kube_minor >= 31:
        # Since 1.35 the kubelet refuses to start on cgroup v1 unless told otherwise;
        # this machine (as many in use) mounts the v1 controllers (hybrid).
        config["failCgroupV1"] = False
    return json.dumps(config, indent=2)


# ---------------------------------------------------------------- host setup


def cgroup_v1_controllers() -> Iterator[Path]:
    for entry in Path("/sys/fs/cgroup").iterdir():
        if entry.is_dir() and not entry.is_symlink() and entry.name != "unified" and (entry / "cgroup.procs").exists():
            yield entry


def make_cgroup_root(node: Node) -> None:
    """Pods of node N>1 live under /ksc-nodeN; the kubelet wants that cgroup to exist."""
    if node.cgroup_root == "/":
        return
    for controller in [*cgroup_v1_controllers(), Path("/sys/fs/cgroup/unified")]:
        target = controller / node.cgroup_root.lstrip("/")
        if not controller.is_dir() or target.is_dir():
            continue
        target.mkdir()
        if controller.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (target / knob).write_text((controller / knob).read_text())


def setup_network(nodes: list[Node]) -> None:
    """Bridge ksc0 on the host, one veth per extra node into its netns, pod routes."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    if run(["ip", "link", "show", HOST_BRIDGE], check=False).returncode != 0:
        run(["ip", "link", "add", HOST_BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{HOST_IP}/24", "dev", HOST_BRIDGE])
    run(["ip", "link", "set", HOST_BRIDGE, "up"])
    for node in nodes:
        if node.netns is None:
            continue
        host_end = f"{node.name}-h"[:15]
        if node.netns not in run(["ip", "netns", "list"]).stdout.split():
            run(["ip", "netns", "add", node.netns])
        if run(["ip", "link", "show", host_end], check=False).returncode != 0:
            run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", node.netns])
            run(["ip", "link", "set", host_end, "master", HOST_BRIDGE, "up"])
            run(["ip", "addr", "add", f"{node.ip}/24", "dev", "eth0"], netns=node.netns)
        for link in ("lo", "eth0"):
            run(["ip", "link", "set", link, "up"], netns=node.netns)
        run(["ip", "route", "replace", "default", "via", HOST_IP], netns=node.netns)
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], netns=node.netns)
        run(["ip", "route", "replace", node.pod_cidr, "via", node.ip])
    # Let routed pod traffic through even if a firewall sets FORWARD to DROP.
    if run(["iptables", "-C", "FORWARD", "-s", POD_CIDR, "-j", "ACCEPT"], check=False).returncode != 0:
        run(["iptables", "-I", "FORWARD", "-s", POD_CIDR, "-j", "ACCEPT"])
        run(["iptables", "-I", "FORWARD", "-d", POD_CIDR, "-j", "ACCEPT"])


def teardown_network(nodes: list[Node]) -> None:
    for node in nodes:
        teardown_node_network(node)
    run(["ip", "link", "del", HOST_BRIDGE], check=False)
    for flag in ("-s", "-d"):
        run(["iptables", "-D", "FORWARD", flag, POD_CIDR, "-j", "ACCEPT"], check=False)
    remove_chains_in_host_namespace(("KUBE-", "CNI-"))


def teardown_node_network(node: Node) -> None:
    run(["ip", "route", "del", node.pod_cidr], check=False)
    if node.netns is not None:
        run(["ip", "link", "del", f"{node.name}-h"[:15]], check=False)
        run(["ip", "netns", "del", node.netns], check=False)
    else:
        # Node 1's CNI bridge lives in the host namespace.
        run(["ip", "link", "del", "cni0"], check=False)


def remove_chains_in_host_namespace(prefixes: tuple[str, ...]) -> None:
    """Remove iptables chains that node 1 left in the host namespace, and the jumps to them.

    Node 1's kubelet (KUBE-FIREWALL, KUBE-KUBELET-CANARY...), kube-proxy (KUBE-SERVICES...)
    and the CNI bridge plugin (CNI-<hash> masquerade chains) create them; the other
    nodes' chains vanish with their network namespaces.
    """
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            dump = run([f"{tool}-save", "-t", table], check=False).stdout.splitlines()
            chains = [line[1:].split()[0] for line in dump if line.startswith(":") and line[1:].startswith(prefixes)]
            for line in dump:
                parts = shlex.split(line)
                if line.startswith("-A ") and "-j" in parts and parts[parts.index("-j") + 1] in chains:
                    run([tool, "-t", table, "-D", *parts[1:]], check=False)
            for chain in chains:
                run([tool, "-t", table, "-F", chain], check=False)
            for chain in chains:
                run([tool, "-t", table, "-X", chain], check=False)


# ---------------------------------------------------------------- up


def start_node(node: Node, stack: Stack, archives: dict[str, Path]) -> None:
    for sub in ("containerd", "cni", "cni-ipam", "opt"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    node.run.mkdir(parents=True, exist_ok=True)
    for path in NODE_PATHS:
        node.bind_source(path).mkdir(parents=True, exist_ok=True)
    node.seccomp_dir().mkdir(parents=True, exist_ok=True)
    (node.dir / "containerd.toml").write_text(containerd_config(node, stack))
    (node.dir / "cni" / "10-ksc.conflist").write_text(cni_config(node))
    (node.dir / "kubelet.json").write_text(kubelet_config(node, stack))
    (node.dir / "kube-proxy.json").write_text(kube_proxy_config(node))
    make_cgroup_root(node)

    # The namespace holder: a sleeping process whose mount namespace has the
    # node's directories bound over the standard paths.
    binds = " && ".join(f"mkdir -p {p} && mount --bind {node.bind_source(p)} {p}" for p in NODE_PATHS)
    start(
        f"{node.name}-ns",
        [
            "/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            f"{binds} && exec /bin/sleep infinity",
        ],
        netns=node.netns,
        expect="/bin/sleep",
    )
    start(
        f"{node.name}-containerd",
        [stack.containerd, "--config", str(node.dir / "containerd.toml")],
        mount_ns_of=f"{node.name}-ns",
    )
    wait_for(
        f"{node.name} containerd",
        lambda: _ctr(node, stack, "version", check=False).returncode == 0,
        30,
        f"see {LOGS / (node.name + '-containerd.log')}",
    )
    for archive in archives.values():
        _ctr(node, stack, "images", "import", str(archive))
    kubelet = [
        str(stack.kube_bin / "kubelet"),
        f"--config={node.dir / 'kubelet.json'}",
        f"--kubeconfig={node.dir / 'kubeconfig'}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.ip}",
        "--v=2",
    ]
    if stack.kube_minor < 35:
        # Only tells the image garbage collector to keep the sandbox image; removed in 1.35.
        kubelet.append(f"--pod-infra-container-image={images.PAUSE_IMAGE}")
    start(
        f"{node.name}-kubelet",
        kubelet,
        mount_ns_of=f"{node.name}-ns",
    )
    # Services (ClusterIPs such as kubernetes.default = 10.96.0.1) through iptables, per node.
    start(
        f"{node.name}-kube-proxy",
        [str(stack.kube_bin / "kube-proxy"), f"--config={node.dir / 'kube-proxy.json'}", "--v=1"],
        mount_ns_of=f"{node.name}-ns",
    )


def _ctr(node: Node, stack: Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([stack.ctr, f"--address={node.socket}", "--namespace=k8s.io", *args], check=check)


def start_control_plane(stack: Stack) -> None:
    bins = stack.kube_bin
    d = STATE / "pki"
    start(
        "etcd",
        [
            stack.etcd,
            "--name=ksc",
            f"--data-dir={STATE / 'etcd'}",
            f"--listen-client-urls={ETCD_CLIENT}",
            f"--advertise-client-urls={ETCD_CLIENT}",
            f"--listen-peer-urls={ETCD_PEER}",
            f"--initial-advertise-peer-urls={ETCD_PEER}",
            f"--initial-cluster=ksc={ETCD_PEER}",
            "--listen-metrics-urls=http://127.0.0.1:23810",
        ],
    )
    start(
        "kube-apiserver",
        [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={ETCD_CLIENT}",
            "--bind-address=0.0.0.0",
            f"--secure-port={API_PORT}",
            f"--advertise-address={HOST_IP}",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={d / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--v=1",
        ],
    )
    # The controllers need RBAC's bootstrap roles: start them once the API server is ready.
    wait_for(
        "the API server (/readyz)",
        api_ready,
        READY_TIMEOUT,
        f"See {LOGS}/kube-apiserver.log and {LOGS}/etcd.log.",
    )
    start(
        "kube-controller-manager",
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={STATE / 'controller-manager.kubeconfig'}",
            f"--service-account-private-key-file={d / 'sa.key'}",
            f"--root-ca-file={d / 'ca.crt'}",
            f"--cluster-signing-cert-file={d / 'ca.crt'}",
            f"--cluster-signing-key-file={d / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--v=1",
        ],
    )
    start(
        "kube-scheduler",
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={STATE / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={STATE / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={STATE / 'scheduler.kubeconfig'}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--v=1",
        ],
    )


def api_ready() -> bool:
    return kubectl("get", "--raw=/readyz", check=False).returncode == 0


def ready_nodes() -> set[str]:
    result = kubectl("get", "nodes", "-o", "json", check=False)
    if result.returncode != 0:
        return set()
    ready: set[str] = set()
    for item in json.loads(result.stdout)["items"]:
        for cond in item["status"].get("conditions", []):
            if cond["type"] == "Ready" and cond["status"] == "True":
                ready.add(item["metadata"]["name"])
    return ready


def wait_ready(nodes: list[Node]) -> None:
    started = time.monotonic()
    wait_for(
        "the API server (/readyz)",
        api_ready,
        READY_TIMEOUT,
        f"See {LOGS}/kube-apiserver.log and {LOGS}/etcd.log.",
    )
    names = {n.name for n in nodes}
    remaining = max(10.0, READY_TIMEOUT - (time.monotonic() - started))
    wait_for(
        f"nodes {', '.join(sorted(names))} to be Ready",
        lambda: names <= ready_nodes(),
        remaining,
        f"See {LOGS}/ksc-node*-kubelet.log and `kubectl --kubeconfig {KUBECONFIG} describe nodes`.",
    )
    wait_for(
        "the default service account",
        lambda: kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
        60,
        f"See {LOGS}/kube-controller-manager.log.",
    )


COREFILE = """\
.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    cache 30
    reload
    loadbalance
}
"""  # No `forward`: there is nothing upstream to ask on this machine.


def runtime_class_manifests(stack: Stack) -> list[dict[str, Any]]:
    """The RuntimeClass of each extra runtime handler of containerd (see containerd_config)."""
    return [
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": name}
        for name in stack.runtime_classes
    ]


def dns_manifests() -> list[dict[str, Any]]:
    """CoreDNS in kube-system behind the Service kube-dns (CLUSTER_DNS), as kubeadm sets it up."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"name": "coredns", "namespace": "kube-system"}
    container = {
        "name": "coredns",
        "image": images.COREDNS_IMAGE,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"containerPort": 53, "protocol": p, "name": f"dns-{p.lower()}"} for p in ("UDP", "TCP")],
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", **meta}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"Corefile": COREFILE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "clusterIP": CLUSTER_DNS,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ],
            },
        },
    ]


def deploy_cluster_objects(stack: Stack) -> None:
    """Apply the RuntimeClasses and dns_manifests(), and wait until CoreDNS is ready."""
    items = runtime_class_manifests(stack) + dns_manifests()
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={KUBECONFIG}", "apply", "-f", "-"], input=manifest, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise HarnessError(f"deploying CoreDNS failed: {result.stderr.strip()}")
    rollout = kubectl("rollout", "status", "-n", "kube-system", "deployment/coredns", "--timeout=90s", check=False)
    if rollout.returncode != 0:
        raise HarnessError(
            f"CoreDNS did not become ready: {rollout.stderr.strip()}. "
            f"See `kubectl --kubeconfig {KUBECONFIG} -n kube-system describe pods`."
        )


def load_cluster() -> dict[str, object] | None:
    return json.loads(CLUSTER_JSON.read_text()) if CLUSTER_JSON.exists() else None


def cluster_nodes() -> list[Node]:
    info = load_cluster()
    return [Node(i) for i in range(1, int(info["nodes"]) + 1)] if info else []  # type: ignore[call-overload]


def running_stack() -> Stack:
    """The stack of the cluster in STATE; a cluster without STACK_FILE was started by a harness without stacks."""
    name = STACK_FILE.read_text().strip() if STACK_FILE.exists() else "oldest"
    if name not in STACKS:
        raise HarnessError(f"{STACK_FILE} names an unknown stack {name!r}; run `harness.py down`")
    return STACKS[name]


def cmd_up(node_count: int, stack: Stack, explicit: bool) -> None:
    info = load_cluster()
    if info is not None:
        if explicit and running_stack() != stack:
            raise HarnessError(
                f"the running cluster is the {running_stack().name!r} stack, not {stack.name!r}. "
                "Run `harness.py down` first, or `up` without --stack to use it."
            )
        dead = [name for name in recorded_names() if running_pid(name) is None]
        if dead:
            raise HarnessError(
                f"a cluster was started but {', '.join(dead)} no longer run(s); "
                f"logs in {LOGS}. Run `harness.py down` then `harness.py up`."
            )
        print(f"up: cluster already running ({running_stack().name} stack)")
        wait_ready(cluster_nodes())
        write_status_file(cluster_nodes(), running_stack())
        print(KUBECONFIG)
        return
    check_host(stack)
    started = time.monotonic()
    if not stack.is_built() or not k8sbuild.coredns_binary().is_file():
        raise HarnessError(
            f"the {stack.name} stack or CoreDNS is not built. Run `harness.py build --stack {stack.name}` first."
        )
    pause_c = k8sbuild.pause_source(stack.kubernetes)
    archives = images.image_archives(images.IMAGE_CACHE, pause_c, k8sbuild.coredns_binary())
    nodes = [Node(i) for i in range(1, node_count + 1)]
    if LOGS.exists():
        shutil.rmtree(LOGS)
    for node in nodes:
        node.dir.mkdir(parents=True, exist_ok=True)
    CLUSTER_JSON.write_text(json.dumps({"nodes": node_count, "version": stack.kubernetes, "stack": stack.name}))
    STACK_FILE.write_text(stack.name + "\n")
    print(f"up: {stack.name} stack: {stack.summary}", flush=True)
    try:
        make_pki(nodes)
        setup_network(nodes)
        start_control_plane(stack)
        for node in nodes:
            start_node(node, stack, archives)
        wait_ready(nodes)
        deploy_cluster_objects(stack)
    except (HarnessError, subprocess.CalledProcessError, OSError, KeyboardInterrupt) as err:
        reason = str(err) or type(err).__name__
        print(f"up: failed ({reason}); stopping what was started", file=sys.stderr)
        cmd_down()
        raise HarnessError(f"up failed: {reason}. Logs kept in {LOGS}.") from err
    write_status_file(nodes, stack)
    print(f"up: cluster ready in {time.monotonic() - started:.0f}s with {node_count} node(s)")
    print(KUBECONFIG)


def check_host(stack: Stack) -> None:
    if os.geteuid() != 0:
        raise HarnessError("the test cluster needs root (namespaces, mounts, cgroups).")
    missing = [
        tool
        for tool in (
            stack.etcd,
            stack.containerd,
            stack.ctr,
            stack.runc,
            *([CRUN] if stack.runtime_classes else []),
            "ip",
            "iptables",
            "openssl",
            "unshare",
            "nsenter",
            "kubectl",
            "gcc",
        )
        if shutil.which(tool) is None
    ]
    if missing or not Path(CNI_BIN, "bridge").exists():
        raise HarnessError(f"missing {', '.join(missing) or 'CNI plugins'}. Run `bash tests/cluster/install-deps.sh`.")
    busy = run(["ss", "-Hltn", f"( sport = :{API_PORT} or sport = :23790 )"], check=False).stdout.strip()
    if busy:
        raise HarnessError(f"ports {API_PORT}/23790 are in use by another process:\n{busy}")


def runtime_versions(stack: Stack) -> dict[str, str]:
    """containerd's version as its CRI reports it to the kubelet, and runc's, from their --version."""
    containerd = run([stack.containerd, "--version"]).stdout.split()  # containerd <package> <version> <revision>
    runc = run([stack.runc, "--version"]).stdout.split()  # runc version <version> ...
    # Debian's 1.6.20~ds1 and 1.1.5+ds1: the CRI reports the release alone.
    return {
        name: re.match(r"v?[\d.]+", words[2]).group().rstrip(".")
        for name, words in (("containerd", containerd), ("runc", runc))
    }


def write_status_file(nodes: list[Node], stack: Stack) -> None:
    info = {
        "version": stack.kubernetes,
        "stack": stack.name,
        "stack_summary": stack.summary,
        "nodes": len(nodes),
        "kubeconfig": str(KUBECONFIG),
        "runtime_versions": runtime_versions(stack),
        "node_info": [
            {
                "name": n.name,
                "ip": n.ip,
                "pod_cidr": n.pod_cidr,
                "netns": n.netns,
                "seccomp_dir": str(n.seccomp_dir()),
                "containerd_socket": str(n.socket),
            }
            for n in nodes
        ],
        "runtime_classes": list(stack.runtime_classes),
        "images": [images.PAUSE_IMAGE, images.BUSYBOX_IMAGE, images.PYTHON_IMAGE, images.COREDNS_IMAGE],
        "logs": str(LOGS),
    }
    CLUSTER_JSON.write_text(json.dumps(info, indent=2))


# ---------------------------------------------------------------- down


def stop_containers(node: Node, stack: Stack) -> None:
    """Kill every container task of the node's containerd so the shims exit."""
    if running_pid(f"{node.name}-containerd") is None:
        return
    tasks = _ctr(node, stack, "tasks", "ls", "-q", check=False).stdout.split()
    for task in tasks:
        _ctr(node, stack, "tasks", "kill", "--signal=SIGKILL", task, check=False)
    deadline = time.monotonic() + 10
    while tasks and time.monotonic() < deadline:
        tasks = [t for t in _ctr(node, stack, "tasks", "ls", "-q", check=False).stdout.split()]
        for task in tasks:
            _ctr(node, stack, "tasks", "delete", "--force", task, check=False)
        time.sleep(0.2)


def kill_cgroup_leftovers(node: Node) -> None:
    """Kill what is still in the node's pod cgroups (containers orphaned by a crash) and remove them."""
    for controller in [*cgroup_v1_controllers(), Path("/sys/fs/cgroup/unified")]:
        base = controller / node.cgroup_root.lstrip("/") / "kubepods"
        top = base if node.cgroup_root == "/" else base.parent
        if not top.is_dir():
            continue
        # os.walk, not Path.rglob: the kubelet or a dying container may remove a cgroup while we walk,
        # and rglob raises FileNotFoundError for a directory that vanished under it.
        for directory, _, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(FileNotFoundError):
                    for pid in Path(directory, "cgroup.procs").read_text().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
        for directory, _, _ in os.walk(top, topdown=False):
            _rmdir_cgroup(Path(directory))


def _rmdir_cgroup(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def unmount_under(*roots: Path) -> None:
    """Unmount anything left mounted under our directories in the host namespace (deepest first)."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted(mounts, key=len, reverse=True):
        if any(mount == str(r) or mount.startswith(str(r) + "/") for r in roots):
            run(["umount", "-l", mount], check=False)


def cmd_down() -> None:
    nodes = cluster_nodes()
    stack = running_stack()
    for node in nodes:
        stop(f"{node.name}-kubelet")
    for node in nodes:
        stop_containers(node, stack)
    for name in reversed(recorded_names()):
        stop(name)
    for node in nodes:
        kill_cgroup_leftovers(node)
    # Shims left by a crashed containerd carry its socket in their command line.
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if cmdline[0].endswith(b"containerd-shim-runc-v2") and any(str(RUN).encode() in a for a in cmdline):
                os.kill(int(proc.name), signal.SIGKILL)
    teardown_network(nodes or [Node(1), Node(2)])
    unmount_under(STATE, RUN)
    for path in (STATE, RUN):
        if path.exists():
            shutil.rmtree(path)
    print("down: cluster stopped and state removed")


# ---------------------------------------------------------------- add-node / remove-node


def cmd_add_node() -> None:
    """Join one more node (kubelet, containerd, network namespace, root directory) to the running cluster."""
    nodes = cluster_nodes()
    if not nodes:
        raise HarnessError("no cluster: run `harness.py up` first")
    stack = running_stack()
    node = Node(len(nodes) + 1)
    started = time.monotonic()
    pause_c = k8sbuild.pause_source(stack.kubernetes)
    archives = images.image_archives(images.IMAGE_CACHE, pause_c, k8sbuild.coredns_binary())
    node.dir.mkdir(parents=True, exist_ok=True)
    # Counted at once, so that `down` stops it even if it never becomes Ready.
    write_status_file([*nodes, node], stack)
    try:
        node_pki(node)
        setup_network([node])
        start_node(node, stack, archives)
        wait_ready([*nodes, node])
    except (HarnessError, subprocess.CalledProcessError, OSError, KeyboardInterrupt) as err:
        reason = str(err) or type(err).__name__
        print(f"add-node: failed ({reason}); removing {node.name}", file=sys.stderr)
        remove_node(node, nodes, stack)
        raise HarnessError(f"add-node failed: {reason}. Logs in {LOGS}.") from err
    print(f"add-node: {node.name} ready in {time.monotonic() - started:.0f}s ({len(nodes) + 1} nodes)")


def cmd_remove_node() -> None:
    """Take the last node added by add-node away: its pods, its Node object, its processes and files."""
    nodes = cluster_nodes()
    if len(nodes) <= 1:
        raise HarnessError("the cluster has no node to remove (the first node carries the cluster's DNS)")
    node, rest = nodes[-1], nodes[:-1]
    remove_node(node, rest, running_stack())
    print(f"remove-node: {node.name} removed ({len(rest)} nodes)")


def remove_node(node: Node, rest: list[Node], stack: Stack) -> None:
    kubectl("delete", "node", node.name, "--wait=true", "--timeout=60s", check=False)
    stop(f"{node.name}-kubelet")
    stop_containers(node, stack)
    names = [f"{node.name}-{part}" for part in ("kube-proxy", "containerd", "ns")]
    for name in names:
        stop(name)
    kill_cgroup_leftovers(node)
    teardown_node_network(node)
    unmount_under(node.dir, node.run)
    for path in (node.dir, node.run):
        if path.exists():
            shutil.rmtree(path)
    order = STATE / "pids" / "order"
    gone = {*names, f"{node.name}-kubelet"}
    order.write_text("".join(f"{name}\n" for name in recorded_names() if name not in gone))
    write_status_file(rest, stack)


# ---------------------------------------------------------------- status / main


def cmd_status(as_json: bool) -> int:
    info = load_cluster()
    if info is None:
        print("status: no cluster (run `harness.py up`)")
        return 1
    procs = {name: running_pid(name) for name in recorded_names()}
    ready = ready_nodes() if api_ready() else set()
    healthy = all(procs.values()) and {n.name for n in cluster_nodes()} <= ready
    if as_json:
        print(json.dumps({**info, "processes": procs, "ready_nodes": sorted(ready), "healthy": healthy}, indent=2))
    else:
        for name, pid in procs.items():
            print(f"{name:28} {'pid ' + str(pid) if pid else 'NOT RUNNING'}")
        print(f"stack: {running_stack().name} ({running_stack().summary})")
        print(f"ready nodes: {', '.join(sorted(ready)) or 'none'}")
        print(f"kubeconfig: {KUBECONFIG}")
    return 0 if healthy else 1


CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_COMPONENTS = ("containerd", "kubelet", "kube-proxy")


def cmd_restart(component: str, node_name: str | None) -> None:
    """Stop one daemon (SIGTERM) and start it again with the same command line, as
    ``systemctl restart`` would; return once it serves again. Containers keep running
    across a kubelet or containerd restart (their shims are separate processes)."""
    if load_cluster() is None:
        raise HarnessError("no cluster is running")
    if component in NODE_COMPONENTS:
        nodes = {n.name: n for n in cluster_nodes()}
        if node_name not in nodes:
            raise HarnessError(f"restart {component} needs --node, one of {', '.join(sorted(nodes))}")
        name, mount_ns_of = f"{node_name}-{component}", f"{node_name}-ns"
    elif component in CONTROL_PLANE:
        name, mount_ns_of = component, None
    else:
        raise HarnessError(f"unknown component {component!r}: {', '.join(CONTROL_PLANE + NODE_COMPONENTS)}")
    pid = running_pid(name)
    if pid is None:
        raise HarnessError(f"{name} is not running")
    argv = [arg.decode() for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    started = time.monotonic()
    stop(name)
    start(name, argv, mount_ns_of=mount_ns_of)
    if component == "kube-apiserver":
        wait_for("the API server (/readyz)", api_ready, READY_TIMEOUT, f"see {LOGS}/kube-apiserver.log")
    elif component == "kubelet":
        wait_for(
            f"{node_name}'s kubelet",
            lambda: (
                kubectl("get", f"--raw=/api/v1/nodes/{node_name}/proxy/healthz", check=False).returncode == 0
                and node_name in ready_nodes()
            ),
            READY_TIMEOUT,
            f"see {LOGS}/{name}.log",
        )
    elif component == "containerd":
        node = {n.name: n for n in cluster_nodes()}[node_name]
        stack = running_stack()
        wait_for(
            f"{node_name}'s containerd",
            lambda: _ctr(node, stack, "version", check=False).returncode == 0,
            30,
            f"see {LOGS}/{name}.log",
        )
    print(f"restart: {name} is back after {time.monotonic() - started:.1f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build or find cached binaries of the stacks")
    build.add_argument("--stack", action="append", choices=sorted(STACKS), help=f"repeatable; default {DEFAULT_STACK}")
    up = sub.add_parser("up", help="start the cluster and wait until ready")
    up.add_argument("--stack", choices=sorted(STACKS), help=f"default {DEFAULT_STACK} (KSC_STACK)")
    up.add_argument("--nodes", type=int, default=int(os.environ.get("KSC_NODES", "2")), choices=range(1, 10))
    sub.add_parser("down", help="stop the cluster and remove its state")
    status = sub.add_parser("status", help="show processes and nodes")
    status.add_argument("--json", action="store_true")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    sub.add_parser("add-node", help="join one more node to the running cluster (its own containerd, netns, root)")
    sub.add_parser("remove-node", help="remove the node added last by add-node")
    restart = sub.add_parser("restart", help="restart one daemon (SIGTERM, start again); wait until it serves")
    restart.add_argument("component", help=f"one of {', '.join(CONTROL_PLANE + NODE_COMPONENTS)}")
    restart.add_argument("--node", help="the node, for containerd, kubelet and kube-proxy")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for name in args.stack or [DEFAULT_STACK]:
                for program in STACKS[name].programs:
                    k8sbuild.build_program(program)
            k8sbuild.build_coredns()
        elif args.command == "up":
            cmd_up(args.nodes, STACKS[args.stack or DEFAULT_STACK], explicit=args.stack is not None)
        elif args.command == "down":
            cmd_down()
        elif args.command == "status":
            return cmd_status(args.json)
        elif args.command == "kubeconfig":
            print(KUBECONFIG)
        elif args.command == "add-node":
            cmd_add_node()
        elif args.command == "remove-node":
            cmd_remove_node()
        elif args.command == "restart":
            cmd_restart(args.component, args.node)
    except HarnessError as err:
        print(f"harness: {err}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as err:
        print(f"harness: {' '.join(map(str, err.cmd))} failed with exit code {err.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
