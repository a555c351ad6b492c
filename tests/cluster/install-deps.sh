#!/usr/bin/env bash
# Install the Debian packages the test cluster needs (tests/cluster/harness.py).
#
# Idempotent and non-interactive: packages already installed are left alone.
# Package services are never started here: the harness starts its own
# etcd and containerd, by PID, on its own ports and paths.
set -euo pipefail

packages=(
  etcd-server                  # etcd 3.4 for the API server
  containerd                   # CRI runtime (1.6.x on Debian 12)
  runc                         # OCI runtime used by containerd
  containernetworking-plugins  # bridge, host-local, loopback CNI plugins
  busybox-static               # busybox image contents
  python3.11-minimal           # python image contents (copied from the host install)
  libpython3.11-stdlib         # ...and its standard library
  iproute2 iptables            # network namespaces, veths, routes, CNI masquerading
  conntrack                    # kube-proxy clears stale UDP conntrack entries with it
  openssl                      # certificates for the control plane
  util-linux                   # unshare, nsenter, mount
  gcc libc6-dev                # builds the static pause binary from Kubernetes' pause.c
  ca-certificates curl         # Go module proxy downloads
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting etcd/containerd services: the harness runs its own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
