#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet,
# non-interactively, without letting their maintainer scripts start services
# (the tests start their own etcd, containerd and auditd, by PID).
# Usage: bash tests/apt-install.sh LABEL PACKAGE...
set -euo pipefail
label=$1
shift

missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "$label: all packages present"
  exit 0
fi

echo "$label: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
