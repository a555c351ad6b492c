#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine (root): install the plugin, start
# the local Kubernetes of tests/cluster/ (built from source the first time,
# cached after), deploy examples/web.yaml, record it while
# examples/exercise-web.sh sends it requests, apply the profile and show the
# result. Leaves the cluster running; `python3 tests/cluster/harness.py down`
# stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

bash tests/cluster/install-deps.sh
python3 -m pip install -q -e .
python3 tests/cluster/harness.py build
python3 tests/cluster/harness.py up
KUBECONFIG="$(python3 tests/cluster/harness.py kubeconfig)"
export KUBECONFIG
# kubectl finds the plugin on PATH, wherever pip put the console script.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo apply -f examples/web.yaml
kubectl -n demo rollout status deploy/web --timeout=180s

kubectl seccomp record deploy/web -n demo --exec "bash examples/exercise-web.sh" --timeout 3m
kubectl seccomp status -n demo
echo "profile: profiles/demo/web-web.json"
