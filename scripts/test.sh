#!/usr/bin/env bash
# The whole test suite: lint, types, layering, then the tests — unit first,
# the host tests (real kernel, podman with crun and runc) next, the real
# Kubernetes cluster tests last. Needs what .ci/run installs and, for the
# cluster tests, a running cluster (`python3 tests/cluster/harness.py up`).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import-linter"; lint-imports
echo "== pytest"
# One pytest run, so its closing line counts every test; cluster tests run last
# (tests/conftest.py orders them).
python3 -m pytest "$@"
