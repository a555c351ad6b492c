# Sourced by .ci/run and scripts/test.sh: the exit status of a job run in the background,
# and stopping such a job with its children.

ended() {  # ended DIR NAME RC: DIR/NAME.status holds RC, written at once so a reader never sees half of it
  echo "$3" > "$1/$2.status.tmp" && mv "$1/$2.status.tmp" "$1/$2.status"
}

wait_ended() {  # wait_ended DIR NAME: until DIR/NAME.status is written; return it
  while [ ! -e "$1/$2.status" ]; do sleep 2; done
  return "$(cat "$1/$2.status")"
}

kill_tree() {  # kill_tree PID: the process and all its descendants, children first
  local child
  for child in $(pgrep -P "$1" || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
