#!/usr/bin/env bash
# Starts the S3 servers the s3 driver's tests run against, on 127.0.0.1 only:
#   - moto 5.1.22 (behaviour: multipart, listings, copies, presigned URLs; signatures unchecked)
#   - s3s-fs 0.14.1 (checks SigV4 signatures, including presigned URLs)
# Installs both under target/servers/ on first use (moto in a venv, about 20 s; s3s-fs with
# cargo install, a few minutes), then starts them, waits until they answer, records their PIDs
# and writes target/servers/s3.env for the tests:
#   servers/s3-up.sh && . target/servers/s3.env && cargo test -p wharf-driver-s3
# Stop them with servers/s3-down.sh. Running this script again while they run does nothing.
# Ports: WHARF_MOTO_PORT (default 9000) and WHARF_S3S_PORT (default 9100).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${WHARF_SERVERS_DIR:-$ROOT/target/servers}
MOTO_PORT=${WHARF_MOTO_PORT:-9000}
S3S_PORT=${WHARF_S3S_PORT:-9100}
MOTO_VERSION=5.1.22
S3S_VERSION=0.14.1
# s3s-fs accepts exactly this key pair; any other is refused (the signing test relies on that).
S3S_ACCESS_KEY=wharf-test-access
S3S_SECRET_KEY=wharf-test-secret-key-0123456789

mkdir -p "$DIR/run" "$DIR/log" "$DIR/s3s-data"

say() { echo "s3-up: $*" >&2; }

running() { # running NAME: true when NAME's recorded PID is alive
    local pidfile="$DIR/run/$1.pid"
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_http() { # wait_http NAME URL: until URL answers (any HTTP status), at most 30 s
    for _ in $(seq 1 150); do
        if curl -s -o /dev/null -m 1 "$2"; then return 0; fi
        if ! running "$1"; then
            say "$1 exited; its log follows"; tail -n 30 "$DIR/log/$1.log" >&2; return 1
        fi
        sleep 0.2
    done
    say "$1 did not answer at $2 within 30 s; see $DIR/log/$1.log"; return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- install -------------------------------------------------------------------------------
MOTO="$DIR/venv/bin/moto_server"
if [ ! -x "$MOTO" ] || ! "$DIR/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    say "installing moto $MOTO_VERSION into $DIR/venv"
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install -q --disable-pip-version-check "moto[s3]==$MOTO_VERSION" flask flask-cors
fi

S3S="$DIR/tools/bin/s3s-fs"
if [ ! -x "$S3S" ] || ! "$S3S" --version 2>/dev/null | grep -q "$S3S_VERSION"; then
    say "installing s3s-fs $S3S_VERSION into $DIR/tools (a few minutes the first time)"
    nice -n 10 cargo install --locked --quiet s3s-fs --version "$S3S_VERSION" --features binary \
        --root "$DIR/tools"
fi

# --- start ---------------------------------------------------------------------------------
if running moto; then
    say "moto already running (PID $(cat "$DIR/run/moto.pid"))"
else
    port_free "$MOTO_PORT" || { say "port $MOTO_PORT is taken; set WHARF_MOTO_PORT"; exit 1; }
    "$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" > "$DIR/log/moto.log" 2>&1 &
    echo $! > "$DIR/run/moto.pid"
    say "moto started (PID $!) on 127.0.0.1:$MOTO_PORT"
fi

if running s3s; then
    say "s3s-fs already running (PID $(cat "$DIR/run/s3s.pid"))"
else
    port_free "$S3S_PORT" || { say "port $S3S_PORT is taken; set WHARF_S3S_PORT"; exit 1; }
    "$S3S" --host 127.0.0.1 --port "$S3S_PORT" --access-key "$S3S_ACCESS_KEY" \
        --secret-key "$S3S_SECRET_KEY" "$DIR/s3s-data" > "$DIR/log/s3s.log" 2>&1 &
    echo $! > "$DIR/run/s3s.pid"
    say "s3s-fs started (PID $!) on 127.0.0.1:$S3S_PORT"
fi

wait_http moto "http://127.0.0.1:$MOTO_PORT/moto-api/"
wait_http s3s "http://127.0.0.1:$S3S_PORT/"

cat > "$DIR/s3.env" <<ENV
# Written by servers/s3-up.sh: the S3 servers the s3 driver's tests use.
export WHARF_S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT
export WHARF_S3S_ENDPOINT=http://127.0.0.1:$S3S_PORT
export WHARF_S3S_ACCESS_KEY=$S3S_ACCESS_KEY
export WHARF_S3S_SECRET_KEY=$S3S_SECRET_KEY
# The s3s-fs binary, for tests that run and restart a server of their own.
export WHARF_S3S_BIN=$S3S
ENV
say "ready; environment in $DIR/s3.env (source it before cargo test)"
