#!/usr/bin/env bash
# Builds the python-inmemory guest driver: app.py and the WIT in ./wit into a WebAssembly
# component of the world `storage-driver` (wharf:storage@0.2.0).
#
#   ./build.sh [OUT.wasm]     (default: python-inmemory.wasm next to this script)
#
# Needs componentize-py (the pinned version below) on PATH; nothing else, and no network.
set -euo pipefail

# The componentize-py release this driver is written and tested against. Another version may
# name the generated modules differently; set COMPONENTIZE_PY_ANY_VERSION=1 to build anyway.
PINNED=0.25.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/python-inmemory.wasm}"
case "$out" in
    /*) ;;
    *) out="$PWD/$out" ;;
esac

if ! command -v componentize-py >/dev/null 2>&1; then
    echo "build.sh: componentize-py not found on PATH." >&2
    echo "  Install it, e.g. in a virtual environment:" >&2
    echo "    python3 -m venv .venv && .venv/bin/pip install componentize-py==$PINNED" >&2
    echo "  then put its bin directory on PATH (PATH=\$PWD/.venv/bin:\$PATH ./build.sh)." >&2
    exit 127
fi
version="$(componentize-py --version | awk '{print $2}')"
if [[ "$version" != "$PINNED" ]]; then
    if [[ "${COMPONENTIZE_PY_ANY_VERSION:-}" == 1 ]]; then
        echo "build.sh: warning: componentize-py $version, not the pinned $PINNED" >&2
    else
        echo "build.sh: componentize-py $version is installed, this driver pins $PINNED:" >&2
        echo "    pip install componentize-py==$PINNED" >&2
        echo "  (or COMPONENTIZE_PY_ANY_VERSION=1 ./build.sh to try $version anyway)" >&2
        exit 1
    fi
fi
if [[ ! -f "$here/wit/storage.wit" ]]; then
    echo "build.sh: $here/wit/storage.wit is missing (the wharf:storage WIT package)" >&2
    exit 1
fi

# componentize-py runs the app's modules at build time (it snapshots the initialised
# interpreter) and writes their bytecode beside them: build from a copy of the sources, so the
# folder stays clean. Every *.py next to this script goes into the component.
stage="$(mktemp -d)"
trap 'rm -rf "$stage" "$out.tmp"' EXIT
cp "$here"/*.py "$stage"/

start=${EPOCHREALTIME:-$SECONDS}
# --export-interface-name: the resources of the exported interface `driver` are looked up in the
# Python module named after the interface; naming it `app` keeps the driver in app.py (its
# bindings are then `wit_world.exports.app`).
RUST_BACKTRACE=0 componentize-py \
    --wit-path "$here/wit" \
    --world storage-driver \
    --export-interface-name 'wharf:storage/driver@0.2.0=app' \
    componentize app \
    --python-path "$stage" \
    --output "$out.tmp" >/dev/null
mv "$out.tmp" "$out"
end=${EPOCHREALTIME:-$SECONDS}

size=$(wc -c <"$out" | tr -d ' ')
awk -v out="$out" -v size="$size" -v start="$start" -v end="$end" 'BEGIN {
    printf "%s: %d bytes (%.1f MiB), built in %.1f s\n", out, size, size / 1048576, end - start
}'
