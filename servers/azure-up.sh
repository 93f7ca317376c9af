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

SCRIPT=azure-up
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

command -v node > /dev/null || die "node is not installed (Azurite needs Node.js 20 or later)"
command -v npm > /dev/null || die "npm is not installed"
command -v curl > /dev/null || die "curl is not installed"
mkdir -p "$DIR"

answers() { curl -s -o /dev/null -m 1 "$URL?comp=list"; }

# An empty container for `wharf check azure` (the tests make containers of their own; the driver,
# like the reference, expects its container to exist). Create Container signed with the shared
# key; 201 when made, 409 when it exists.
CHECK_CONTAINER=wharf-check
make_check_container() {
  python3 - "$URL" "$ACCOUNT" "$KEY" "$CHECK_CONTAINER" << 'PY'
import base64, hashlib, hmac, sys, urllib.error, urllib.request
from email.utils import formatdate
url, account, key, container = sys.argv[1:]
date, version = formatdate(usegmt=True), "2021-12-02"
# PUT, eleven empty standard headers, the x-ms- headers, then the canonical resource.
to_sign = "PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n" \
    + f"/{account}/{account}/{container}\nrestype:container"
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest())
req = urllib.request.Request(f"{url}/{container}?restype=container", method="PUT", headers={
    "x-ms-date": date, "x-ms-version": version,
    "Authorization": f"SharedKey {account}:{sig.decode()}"})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"azure-up: creating container {container} failed: HTTP {e.code} {e.read()[:200]!r}")
PY
}

ready() {
  make_check_container
  cat > "$ENV_FILE" <<ENV
# Written by servers/azure-up.sh: Azurite on 127.0.0.1:$PORT (the emulator's public dev account).
export WHARF_AZURE_SERVICEURL=$URL
export WHARF_AZURE_ACCOUNTNAME=$ACCOUNT
export WHARF_AZURE_ACCOUNTKEY='$KEY'
# wharf check azure -p accountname=\$WHARF_AZURE_ACCOUNTNAME -p accountkey=\$WHARF_AZURE_ACCOUNTKEY -p container=\$WHARF_AZURE_CHECK_CONTAINER -p serviceurl=\$WHARF_AZURE_SERVICEURL
export WHARF_AZURE_CHECK_CONTAINER=$CHECK_CONTAINER
# The Azurite binary, for tests that run and restart a server of their own.
export WHARF_AZURITE_BIN=$BIN
ENV
}

reuse_running Azurite
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

await_start Azurite "$AZURITE_VERSION"
