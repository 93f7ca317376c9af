#!/usr/bin/env bash
# Starts Azurite (the Azure Blob Storage emulator) on 127.0.0.1 for the azure driver's tests.
#
# Usage: servers/azure-up.sh          (stop it again with servers/azure-down.sh)
#
# Azurite 3.37.0 is installed from npm into target/servers/azurite on first use (about half a
# minute, ~360 MiB) and reused afterwards. The server keeps its data in memory, checks shared-key
# and SAS signatures for real, and never sends telemetry. Its PID goes to
# target/servers/azure.pid and the environment the tests read to target/servers/azure.env:
#
#   . target/servers/azure.env && cargo test -p wharf-driver-azure
#
# Environment: AZURITE_PORT (default 10000).
set -euo pipefail

AZURITE_VERSION=3.37.0
PORT=${AZURITE_PORT:-10000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
PREFIX="$DIR/azurite"
BIN="$PREFIX/node_modules/.bin/azurite-blob"
PID_FILE="$DIR/azure.pid"
LOG="$DIR/azure.log"
ENV_FILE="$DIR/azure.env"
# The emulator's documented, public development account (not a secret).
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
URL="http://127.0.0.1:$PORT/$ACCOUNT"

say() { echo "azure-up: $*"; }
die() { echo "azure-up: $*" >&2; exit 1; }

command -v node > /dev/null || die "node is not installed (Azurite needs Node.js 20 or later)"
command -v npm > /dev/null || die "npm is not installed"
command -v curl > /dev/null || die "curl is not installed"
mkdir -p "$DIR"

answers() { curl -s -o /dev/null -m 1 "$URL?comp=list"; }

write_env() {
  cat > "$ENV_FILE" <<ENV
# Written by servers/azure-up.sh: Azurite on 127.0.0.1:$PORT (the emulator's public dev account).
export WHARF_AZURE_SERVICEURL=$URL
export WHARF_AZURE_ACCOUNTNAME=$ACCOUNT
export WHARF_AZURE_ACCOUNTKEY='$KEY'
ENV
}

if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2> /dev/null; then
  answers || die "PID $(cat "$PID_FILE") from $PID_FILE is alive but $URL does not answer"
  write_env
  say "Azurite is already running (PID $(cat "$PID_FILE")) at $URL"
  say "environment: . $ENV_FILE"
  exit 0
fi
rm -f "$PID_FILE"
if answers; then
  die "something else already answers on 127.0.0.1:$PORT; stop it or set AZURITE_PORT"
fi

if [ ! -x "$BIN" ]; then
  say "installing azurite@$AZURITE_VERSION into $PREFIX (first run only)"
  npm install --prefix "$PREFIX" --no-fund --no-audit --loglevel=error "azurite@$AZURITE_VERSION" > /dev/null
fi
installed=$(node -p "require('$PREFIX/node_modules/azurite/package.json').version")
[ "$installed" = "$AZURITE_VERSION" ] || die "$PREFIX holds azurite $installed, expected $AZURITE_VERSION (remove $PREFIX)"

"$BIN" --blobHost 127.0.0.1 --blobPort "$PORT" --inMemoryPersistence --silent \
  --skipApiVersionCheck --disableTelemetry > "$LOG" 2>&1 &
echo $! > "$PID_FILE"

for _ in $(seq 1 150); do
  if answers; then
    write_env
    say "Azurite $AZURITE_VERSION is running (PID $(cat "$PID_FILE")) at $URL"
    say "environment: . $ENV_FILE"
    exit 0
  fi
  if ! kill -0 "$(cat "$PID_FILE")" 2> /dev/null; then
    rm -f "$PID_FILE"
    die "Azurite exited during start-up; its log ($LOG) says: $(tail -n 20 "$LOG")"
  fi
  sleep 0.2
done
die "Azurite did not answer at $URL within 30 s (log: $LOG); stop it with servers/azure-down.sh"
