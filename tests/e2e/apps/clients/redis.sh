#!/usr/bin/env bash
# redis-benchmark against every pod in $KUBECTL_SECCOMP_POD_IPS, then a background save (BGSAVE:
# a forked child writes the snapshot) and its outcome. RESULT lines must match on every run.
set -euo pipefail
for ip in $KUBECTL_SECCOMP_POD_IPS; do
  # -q redraws a progress line with carriage returns; keep each test's final line.
  out=$(redis-benchmark -h "$ip" -q -n "${REQUESTS:-2000}" -c 10 -t set,get,incr,lpush,rpop,sadd,hset,spop,mset |
    tr '\r' '\n' | grep 'requests per second')
  echo "$out" >&2
  if echo "$out" | grep -qi error; then echo "redis-benchmark reported errors" >&2; exit 1; fi
  echo "RESULT tests=$(echo "$out" | sed 's/: [0-9.]* requests per second.*//' | sort | tr '\n' ',')"
  redis-cli -h "$ip" set ksc:key "value $ip" >/dev/null
  echo "RESULT get=$(redis-cli -h "$ip" get ksc:key | sed "s/$ip/IP/")"
  before=$(redis-cli -h "$ip" lastsave)
  redis-cli -h "$ip" bgsave >/dev/null || true  # "already in progress" when a periodic save runs
  for _ in $(seq 100); do
    [ "$(redis-cli -h "$ip" info persistence | tr -d '\r' | awk -F: '/^rdb_bgsave_in_progress/ {print $2}')" = 0 ] && \
      [ "$(redis-cli -h "$ip" lastsave)" != "$before" ] && break
    sleep 0.2
  done
  echo "RESULT $(redis-cli -h "$ip" info persistence | tr -d '\r' | grep rdb_last_bgsave_status)"
  echo "RESULT dbsize>0=$([ "$(redis-cli -h "$ip" dbsize)" -gt 0 ] && echo yes || echo no)"
done
