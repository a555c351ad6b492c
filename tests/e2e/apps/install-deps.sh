#!/usr/bin/env bash
# Install the Debian client tools tests/e2e/apps runs on this host against the applications'
# pods. The applications themselves are never installed here: tests/cluster/images.py
# downloads their packages (apt-get download) and unpacks them into images (dpkg-deb -x).
set -euo pipefail

packages=(
  apache2-utils         # ab: HTTP load for nginx, the JVM service and Node.js
  redis-tools           # redis-benchmark, redis-cli
  postgresql-client-15  # psql
  postgresql-15         # pgbench ships in the server package (its service is not started)
  etcd-client           # etcdctl
)

bash "$(dirname "$0")/../../apt-install.sh" "install-deps(apps)" "${packages[@]}"
