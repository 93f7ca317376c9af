#!/usr/bin/env bash
# Stops the Swift servers and memcached that servers/swift-up.sh started, by the PIDs it
# recorded under target/servers/swift/run (never by name). The cluster's data stays until the
# next start, which begins afresh.
#
# Usage: servers/swift-down.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
RUN="$DIR/swift/run"
SCRIPT=swift-down
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

stopped=0
for s in proxy account container object memcached; do
  pid_file="$RUN/$s.pid"
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2> /dev/null; then
    if ! terminate "$pid"; then
      say "$s (PID $pid) did not stop within 5 s; killing it"
      kill -9 "$pid" 2> /dev/null || true
    fi
    say "stopped $s (PID $pid)"
    stopped=$((stopped + 1))
  fi
  rm -f "$pid_file"
done
rm -f "$DIR/swift.env"
[ "$stopped" -gt 0 ] || say "nothing was running"
