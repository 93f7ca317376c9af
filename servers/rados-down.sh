#!/usr/bin/env bash
# Stops the Ceph cluster that servers/rados-up.sh started, by the PIDs it recorded (never by
# name): the OSD first, then the monitor. A memstore OSD's data is gone with it; a bluestore
# OSD's block file (up to several GiB after a long run) is removed once both have stopped, as
# rados-up.sh makes a fresh cluster every time anyway. The logs stay in target/servers/ceph/log.
#
# Usage: servers/rados-down.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"

say() { echo "rados-down: $*"; }

stop() {
  local name=$1 pid_file=$2 pid
  if [ ! -f "$pid_file" ]; then
    say "no $pid_file: no $name to stop"
    return
  fi
  pid=$(cat "$pid_file")
  if ! kill -0 "$pid" 2> /dev/null; then
    say "the $name (PID $pid) was not running"
    rm -f "$pid_file"
    return
  fi
  kill "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2> /dev/null; then
    say "the $name (PID $pid) did not stop within 10 s; killing it"
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$pid_file"
  say "stopped the $name (PID $pid)"
}

stop OSD "$DIR/rados-osd.pid"
stop monitor "$DIR/rados-mon.pid"
rm -f "$DIR/rados.env"
if [ -d "$DIR/ceph/osd.0" ]; then
  rm -rf "$DIR/ceph/osd.0"
  say "removed the OSD's store ($DIR/ceph/osd.0)"
fi
