#!/usr/bin/env bash
# etcdctl against every pod in $KUBECTL_SECCOMP_POD_IPS: puts, gets, a watch, a compaction.
# RESULT lines must match on every run.
set -euo pipefail
for ip in $KUBECTL_SECCOMP_POD_IPS; do
  e=(etcdctl --endpoints="http://$ip:2379" --command-timeout=10s)
  export ETCDCTL_API=3
  watch_out=$(mktemp)
  "${e[@]}" watch --prefix ksc/watched/ >"$watch_out" 2>&1 &
  watcher=$!
  sleep 1
  for i in $(seq "${KEYS:-100}"); do "${e[@]}" put "ksc/key/$i" "value-$i" >/dev/null; done
  for i in 1 2 3; do "${e[@]}" put "ksc/watched/$i" "seen-$i" >/dev/null; done
  echo "RESULT keys=$("${e[@]}" get --prefix ksc/key/ --keys-only | grep -c .)"
  echo "RESULT get=$("${e[@]}" get ksc/key/42 --print-value-only)"
  for _ in $(seq 50); do [ "$(grep -c '^seen-' "$watch_out")" = 3 ] && break; sleep 0.2; done
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  echo "RESULT watched=$(grep '^seen-' "$watch_out" | tr '\n' ',')"
  rev=$("${e[@]}" get ksc/key/1 -w fields | awk '/"Revision"/ {print $3}')
  echo "RESULT compact=$("${e[@]}" compact "$rev" >/dev/null && echo ok)"
  echo "RESULT health=$("${e[@]}" endpoint health 2>&1 | grep -o 'is healthy')"
  "${e[@]}" del --prefix ksc/ >/dev/null
  rm -f "$watch_out"
done
