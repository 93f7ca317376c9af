#!/usr/bin/env bash
# Builds js-inmemory.wasm (or the path given) from driver.js and the WIT in wit/0.1.0:
#   ./build.sh [OUT.wasm]
# Installs componentize-js (the version package-lock.json pins) with npm on first use; after
# that it builds offline. Needs Node.js 20 or newer and npm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m -- "${1:-$here/js-inmemory.wasm}")

missing() {
    echo "build.sh: $1 is missing: $2" >&2
    exit 1
}
command -v node > /dev/null ||
    missing "Node.js" "install Node.js 20 or newer (https://nodejs.org; on Debian 13: apt-get install nodejs npm)"
command -v npm > /dev/null || missing npm "install npm with Node.js (on Debian: apt-get install npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || missing "Node.js 20 or newer" "this is Node.js $(node --version); install a newer one"

cd "$here"
# npm ci again whenever package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
node build.mjs "$out"
