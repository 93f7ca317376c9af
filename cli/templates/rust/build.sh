#!/usr/bin/env bash
# Builds rust-inmemory.wasm (or the path given) from src/lib.rs and the WIT in wit/:
#   ./build.sh [OUT.wasm]
# Needs cargo and the wasm32-wasip2 target, which produces a component directly (no adapter).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m -- "${1:-$here/rust-inmemory.wasm}")

missing() {
    echo "build.sh: $1 is missing: $2" >&2
    exit 1
}
command -v cargo > /dev/null ||
    missing cargo "install Rust with rustup (https://rustup.rs), then: rustup target add wasm32-wasip2"
if command -v rustup > /dev/null; then
    rustup target list --installed | grep -qx wasm32-wasip2 ||
        missing "the wasm32-wasip2 target" "rustup target add wasm32-wasip2"
fi

started=$SECONDS
# Cargo.lock pins every crate; CARGO_TARGET_DIR may point at a shared build folder.
cargo build --quiet --release --locked --target wasm32-wasip2 --manifest-path "$here/Cargo.toml"
target_dir=${CARGO_TARGET_DIR:-$here/target}
mkdir -p "$(dirname "$out")"
cp "$target_dir/wasm32-wasip2/release/rust_inmemory.wasm" "$out"
echo "wrote $out: $(stat -c %s "$out") bytes in $((SECONDS - started)) s"
