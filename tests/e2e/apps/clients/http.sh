#!/usr/bin/env bash
# HTTP load with ApacheBench against port ${PORT:-8080} of every pod in $KUBECTL_SECCOMP_POD_IPS.
# Prints RESULT lines that must be the same on every run; exits non-zero on any failed request.
set -euo pipefail
for ip in $KUBECTL_SECCOMP_POD_IPS; do
  out=$(ab -q -n "${REQUESTS:-2000}" -c 8 -s 10 "http://$ip:${PORT:-8080}/")
  echo "$out" | grep -iE "requests per second|time taken" >&2
  complete=$(echo "$out" | awk '/^Complete requests:/ {print $3}')
  failed=$(echo "$out" | awk '/^Failed requests:/ {print $3}')
  length=$(echo "$out" | awk '/^Document Length:/ {print $3}')
  non2xx=$(echo "$out" | awk '/^Non-2xx responses:/ {print $3}')
  echo "RESULT complete=$complete failed=$failed non2xx=${non2xx:-0} document_bytes=$length"
  [ "$failed" = 0 ] && [ -z "$non2xx" ] && [ "$complete" = "${REQUESTS:-2000}" ]
done
