#!/usr/bin/env bash
# Stops the Azurite that servers/azure-up.sh started, by the PID it recorded (never by name).
#
# Usage: servers/azure-down.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
PID_FILE="$DIR/azure.pid"
ENV_FILE="$DIR/azure.env"
SCRIPT=azure-down
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

stop_recorded Azurite
