#!/usr/bin/env bash
# pgbench against every pod in $KUBECTL_SECCOMP_POD_IPS: initialise (-i), then a short TPC-B-like
# run (-T). RESULT lines must match on every run; exits non-zero on a failed transaction.
set -euo pipefail
for ip in $KUBECTL_SECCOMP_POD_IPS; do
  export PGHOST=$ip PGUSER=postgres PGDATABASE=postgres
  pgbench -q -i -s 1 >&2
  out=$(pgbench -T "${SECONDS_RUN:-5}" -c 4 -j 2 2>&1)
  echo "$out" >&2
  failed=$(echo "$out" | awk '/^number of failed transactions:/ {print $5}')
  processed=$(echo "$out" | awk '/^number of transactions actually processed:/ {print $6}')
  echo "RESULT failed=$failed processed>0=$([ "${processed:-0}" -gt 0 ] && echo yes || echo no)"
  echo "RESULT accounts=$(psql -Atc 'select count(*) from pgbench_accounts')"
  echo "RESULT checkpoint=$(psql -Atc 'checkpoint' >/dev/null && echo ok)"
  [ "$failed" = 0 ]
done
