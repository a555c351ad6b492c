#!/usr/bin/env bash
# The whole test suite: lint, types, layering, then the tests — the tests that need no
# cluster (unit, agent, dist; the host tests on the real kernel, podman with crun and runc),
# then the real Kubernetes cluster tests. Needs what .ci/run installs and, for the cluster
# tests, a running cluster (`python3 tests/cluster/harness.py up`).
#
# With arguments, they select the tests of one pytest run (`scripts/test.sh tests/unit`,
# `scripts/test.sh -m cluster -k kinds`), in the order tests/conftest.py gives.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import-linter"; lint-imports
if [ $# -gt 0 ]; then
  echo "== pytest $*"
  exec python3 -m pytest "$@"
fi

# shellcheck source=scripts/background.sh
source scripts/background.sh  # ended, kill_tree

echo "== pytest: the tests that need no cluster"
no_cluster_rc=0
python3 -m pytest -m "not cluster" || no_cluster_rc=$?

# The cluster tests spend most of their time waiting on rollouts and recordings, so they
# run in two lanes at once on the one cluster. The second lane (the application tests and
# every workload kind) has a node-pod namespace of its own (KUBECTL_SECCOMP_AGENT_NAMESPACE),
# and every test checks only its own namespace's files and pods. The tests marked
# `exclusive` (restarts, a node that joins, node labels, cleanup) run at the end of the
# first lane, after the second has ended (KSC_EXCLUSIVE_AFTER, tests/conftest.py).
second_lane=(tests/e2e/apps tests/e2e/test_kinds.py)
lanes=$(mktemp -d /tmp/ksc-lanes.XXXXXX)
trap 'rm -rf "$lanes"' EXIT
echo "== pytest: cluster tests in two lanes (the second: ${second_lane[*]}; its output follows the first's)"
{
  rc=0
  KUBECTL_SECCOMP_AGENT_NAMESPACE=kubectl-seccomp-lane2 \
    python3 -m pytest -m cluster -p no:cacheprovider "${second_lane[@]}" > "$lanes/second.log" 2>&1 || rc=$?
  ended "$lanes" second "$rc"
} &
second=$!
trap 'kill_tree "$second"; wait || true; rm -rf "$lanes"' EXIT
first_rc=0
ignores=()
for path in "${second_lane[@]}"; do ignores+=("--ignore=$path"); done
KSC_EXCLUSIVE_AFTER="$lanes/second.status" python3 -m pytest -m cluster tests "${ignores[@]}" || first_rc=$?
wait "$second" || true
echo "== pytest: cluster tests, second lane (${second_lane[*]})"
cat "$lanes/second.log"
second_rc=$(cat "$lanes/second.status")
echo "== pytest exit codes: no cluster $no_cluster_rc, first lane $first_rc, second lane $second_rc"
[ "$no_cluster_rc" = 0 ] && [ "$first_rc" = 0 ] && [ "$second_rc" = 0 ]
