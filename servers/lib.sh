# What the servers/*-up.sh and *-down.sh scripts share: messages under the script's name, and
# starting, finding and stopping a server by the PID it recorded (never by name). Sourced, never
# run: set SCRIPT (the name messages begin with, e.g. azure-up) before sourcing it.
# shellcheck shell=bash

say() { echo "$SCRIPT: $*"; }
die() { echo "$SCRIPT: $*" >&2; exit 1; }

# terminate PID: asks PID to end and waits up to 5 s for it; fails when it still runs by then.
terminate() {
  kill "$1" || exit # as `set -e` would have it
  for _ in $(seq 1 50); do
    kill -0 "$1" 2> /dev/null || break
    sleep 0.1
  done
  ! kill -0 "$1" 2> /dev/null
}

# stop_recorded SERVER: the whole down script of a server that is one process, recorded in
# $PID_FILE, with its environment in $ENV_FILE (both removed once it is stopped).
stop_recorded() {
  if [ ! -f "$PID_FILE" ]; then
    say "no $PID_FILE: nothing to stop"
    exit 0
  fi
  local pid
  pid=$(cat "$PID_FILE")
  if ! kill -0 "$pid" 2> /dev/null; then
    say "$1 (PID $pid) was not running"
    rm -f "$PID_FILE" "$ENV_FILE"
    exit 0
  fi
  if ! terminate "$pid"; then
    say "$1 (PID $pid) did not stop within 5 s; killing it"
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$PID_FILE" "$ENV_FILE"
  say "stopped $1 (PID $pid)"
}

# For the up scripts of a server that is one process: the script defines `answers` (true when
# the server at $URL answers) and `ready` (what to do once it does: write $ENV_FILE), and sets
# PID_FILE, LOG, URL and ENV_FILE.

# reuse_running SERVER: when the server recorded in $PID_FILE runs, makes it ready and exits;
# otherwise forgets the stale $PID_FILE.
reuse_running() {
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2> /dev/null; then
    answers || die "PID $(cat "$PID_FILE") from $PID_FILE is alive but $URL does not answer"
    ready
    say "$1 is already running (PID $(cat "$PID_FILE")) at $URL"
    say "environment: . $ENV_FILE"
    exit 0
  fi
  rm -f "$PID_FILE"
}

# await_start SERVER VERSION: waits up to 30 s for the server just started (its PID in
# $PID_FILE) to answer, makes it ready and exits; dies when it exits or does not answer.
await_start() {
  for _ in $(seq 1 150); do
    if answers; then
      ready
      say "$1 $2 is running (PID $(cat "$PID_FILE")) at $URL"
      say "environment: . $ENV_FILE"
      exit 0
    fi
    if ! kill -0 "$(cat "$PID_FILE")" 2> /dev/null; then
      rm -f "$PID_FILE"
      die "$1 exited during start-up; its log ($LOG) says: $(tail -n 20 "$LOG")"
    fi
    sleep 0.2
  done
  die "$1 did not answer at $URL within 30 s (log: $LOG); stop it with servers/${SCRIPT%-up}-down.sh"
}
