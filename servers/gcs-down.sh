#!/usr/bin/env bash
# Stops the fake-gcs-server that servers/gcs-up.sh started, by the PID it recorded (never by name).
#
# Usage: servers/gcs-down.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
PID_FILE="$DIR/gcs.pid"
ENV_FILE="$DIR/gcs.env"
SCRIPT=gcs-down
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

stop_recorded fake-gcs-server
