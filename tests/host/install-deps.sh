#!/usr/bin/env bash
# Install what the node agent's host tests (tests/host/) need, and do the host
# set-up of DESIGN.md section 7. Idempotent and non-interactive: run it as root
# before `pytest -m host`; a second run changes nothing.
#
# - podman with crun and runc, the runtimes the tests record under;
# - auditd (started only by the tests that need it, by PID, and stopped again);
# - busybox-static (the containers' root filesystem: no image registry needed);
# - python3-seccomp (tests/fixtures/exercise.py, under /usr/bin/python3).
# Package services are never started here.
set -euo pipefail

packages=(podman crun runc conmon auditd busybox-static python3-seccomp)

bash "$(dirname "$0")/../apt-install.sh" "install-deps(host)" "${packages[@]}"

# crun needs the hugetlb controller on a cgroup v1 host (DESIGN.md section 7).
if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && ! grep -q ' /sys/fs/cgroup/hugetlb cgroup ' /proc/mounts; then
  if grep -qw hugetlb /proc/cgroups; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    echo "install-deps(host): mounted the hugetlb cgroup controller"
  fi
fi

# The kernel must let us read audit records through netlink; nothing to set up,
# but say so early when audit is compiled out.
[ -e /proc/self/loginuid ] || echo "install-deps(host): warning: kernel without CONFIG_AUDIT" >&2
echo "install-deps(host): ready"
