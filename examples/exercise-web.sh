#!/usr/bin/env bash
# Exercise the example server while `kubectl seccomp record --exec` traces it:
# the plugin passes the pods' IPs in KUBECTL_SECCOMP_POD_IPS.
set -euo pipefail
for round in 1 2 3; do
  for ip in ${KUBECTL_SECCOMP_POD_IPS}; do
    python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()" "http://${ip}:8080/"
  done
done
echo "exercised: ${KUBECTL_SECCOMP_PODS}"
