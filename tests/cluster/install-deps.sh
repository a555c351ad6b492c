#!/usr/bin/env bash
# Install the Debian packages the test cluster needs (tests/cluster/harness.py).
#
# Idempotent and non-interactive: packages already installed are left alone.
# Package services are never started here: the harness starts its own
# etcd and containerd, by PID, on its own ports and paths.
set -euo pipefail

packages=(
  etcd-server                  # etcd 3.4 for the API server (oldest stack)
  containerd                   # CRI runtime (1.6.x on Debian 12; oldest stack)
  runc                         # OCI runtime used by containerd (1.1.5; oldest stack)
  crun                         # second OCI runtime, the RuntimeClass crun (oldest stack)
  libseccomp-dev pkgconf       # runc 1.4 links libseccomp through cgo (current stack)
  containernetworking-plugins  # bridge, host-local, loopback CNI plugins
  busybox-static               # busybox image contents
  python3.11-minimal           # python image contents (copied from the host install)
  libpython3.11-stdlib         # ...and its standard library
  iproute2 iptables            # network namespaces, veths, routes, CNI masquerading
  conntrack                    # kube-proxy clears stale UDP conntrack entries with it
  openssl                      # certificates for the control plane
  util-linux                   # unshare, nsenter, mount
  gcc libc6-dev                # the static pause binary from Kubernetes' pause.c; cgo for containerd, runc
  ca-certificates curl         # Go module proxy downloads
)

bash "$(dirname "$0")/../apt-install.sh" install-deps "${packages[@]}"
