#!/usr/bin/env bash
# Stops the servers servers/s3-up.sh started, by the PIDs it recorded (never by name).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${WHARF_SERVERS_DIR:-$ROOT/target/servers}
SCRIPT=s3-down
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

for name in moto s3s; do
    pidfile="$DIR/run/$name.pid"
    if [ ! -f "$pidfile" ]; then
        echo "s3-down: $name was not started here" >&2
        continue
    fi
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        terminate "$pid" || kill -9 "$pid"
        echo "s3-down: stopped $name (PID $pid)" >&2
    else
        echo "s3-down: $name (PID $pid) was not running" >&2
    fi
    rm -f "$pidfile"
done
