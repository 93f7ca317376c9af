#!/usr/bin/env bash
# The native test of driver.c (native.c says what it checks): driver.c and native.c compiled
# for this machine with AddressSanitizer and UBSan, random operations compared with a model,
# each allocation failing in turn, and LeakSanitizer at the end. A few seconds.
#   tests/run.sh                     # seed 1, 3000 operations
#   SEED=7 OPS=50000 tests/run.sh    # another seed, a longer run
# Exits non-zero on any difference from the model, sanitizer report or leak.
#
# The bindings' header comes from ../build.sh, which regenerates build/ (and builds the
# component, into a temporary file), so this needs the tools build.sh needs.
#
# Environment:
#   CC    the host's C compiler with ASan and UBSan (default gcc). build.sh does not see it:
#         it takes its own clang for wasm32.
#   SEED  the random seed (default 1)
#   OPS   the number of random operations (default 3000)
# ASAN_OPTIONS and UBSAN_OPTIONS are passed on, after this script's defaults.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
driver=$(dirname "$here")
cc=${CC:-gcc}
seed=${SEED:-1}
ops=${OPS:-3000}
[[ $seed =~ ^[0-9]+$ && $ops =~ ^[0-9]+$ ]] || {
    echo "tests/run.sh: SEED and OPS must be whole numbers (SEED=$seed OPS=$ops)" >&2
    exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# build/storage_driver.h, generated as build.sh generates it (its component goes to $tmp).
env -u CC "$driver/build.sh" "$tmp/c-inmemory.wasm" > /dev/null

flags=(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror
    -std=c11 -D_POSIX_C_SOURCE=200809L -I"$driver/build")
# driver.c's allocations go through native.c's failure injection. Its attributes naming wasm
# exports mean nothing on the host (-Wno-attributes).
"$cc" "${flags[@]}" -Wno-attributes -Dmalloc=test_malloc -Dcalloc=test_calloc \
    -Drealloc=test_realloc -c "$driver/driver.c" -o "$tmp/driver.o"
"$cc" "${flags[@]}" -c "$here/native.c" -o "$tmp/native.o"
"$cc" -fsanitize=address,undefined "$tmp/driver.o" "$tmp/native.o" -o "$tmp/native"

ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    "$tmp/native" "$seed" "$ops"
