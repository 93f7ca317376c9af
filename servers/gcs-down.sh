#!/usr/bin/env bash
# Stops the fake-gcs-server that servers/gcs-up.sh started, by the PID it recorded (never by name).
#
# Usage: servers/gcs-down.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
PID_FILE="$DIR/gcs.pid"

say() { echo "gcs-down: $*"; }

if [ ! -f "$PID_FILE" ]; then
  say "no $PID_FILE: nothing to stop"
  exit 0
fi
pid=$(cat "$PID_FILE")
if ! kill -0 "$pid" 2> /dev/null; then
  say "fake-gcs-server (PID $pid) was not running"
  rm -f "$PID_FILE" "$DIR/gcs.env"
  exit 0
fi
kill "$pid"
for _ in $(seq 1 50); do
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2> /dev/null; then
  say "fake-gcs-server (PID $pid) did not stop within 5 s; killing it"
  kill -9 "$pid" 2> /dev/null || true
fi
rm -f "$PID_FILE" "$DIR/gcs.env"
say "stopped fake-gcs-server (PID $pid)"
