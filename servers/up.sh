#!/usr/bin/env bash
# Starts every server the cloud drivers' tests need (installing each on first use), on
# 127.0.0.1 only, and writes their combined environment to target/servers/env:
#   servers/up.sh && . target/servers/env
# Each driver's own pair of scripts (servers/<driver>-up.sh, -down.sh) can be used alone.
# Running it again while the servers run only rewrites the environment file.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${WHARF_SERVERS_DIR:-$HERE/../target/servers}
DRIVERS=(s3 azure gcs swift rados)

for driver in "${DRIVERS[@]}"; do
    "$HERE/$driver-up.sh"
done
mkdir -p "$DIR"
{
    echo "# Written by servers/up.sh: every test server's environment."
    for driver in "${DRIVERS[@]}"; do cat "$DIR/$driver.env"; done
} > "$DIR/env"
echo "up: all servers ready; environment in $DIR/env" >&2
