#!/usr/bin/env bash
# Builds c-inmemory.wasm (or the path given) from driver.c and the WIT in wit/ (the world
# `storage-driver` of wharf:storage@0.2.0):
#   ./build.sh [OUT.wasm]
# Generates the C bindings with wit-bindgen into build/, compiles them and driver.c with clang
# for wasm32-wasi (wasi-libc), and links with wasm-component-ld, which runs wasm-ld and turns
# the core module into a component with the WASI preview1 adapter it carries.
#
# Tools (each may be overridden by an environment variable):
#   CC                 clang with the wasm32 target      (default: clang-14, else clang)
#   WASI_SYSROOT       wasi-libc's sysroot                (default: the compiler's own, which
#                                                          for Debian's clang-14 is wasi-libc's)
#   WASM_LD            wasm-ld                            (default: wasm-ld-14, else wasm-ld)
#   WIT_BINDGEN        wit-bindgen 0.63.0                 (default: wit-bindgen on PATH)
#   WASM_COMPONENT_LD  wasm-component-ld 0.5.31           (default: wasm-component-ld on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m -- "${1:-$here/c-inmemory.wasm}")
build="$here/build"
started=$(date +%s%N)

apt_hint="apt-get install -y --no-install-recommends clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
wit_bindgen_hint="cargo install --locked wit-bindgen-cli --version 0.63.0 --no-default-features --features c"
component_ld_hint="cargo install --locked wasm-component-ld --version 0.5.31"

missing() {
    echo "build.sh: $1 is missing: $2" >&2
    exit 1
}

# The first of the given commands that exists, as a path.
first_command() {
    local c
    for c in "$@"; do
        if command -v "$c" > /dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

cc=${CC:-$(first_command clang-14 clang || true)}
[ -n "$cc" ] && command -v "$cc" > /dev/null 2>&1 ||
    missing "clang (CC=${CC:-clang-14})" "on Debian 12: $apt_hint"
sysroot=()
if [ -n "${WASI_SYSROOT:-}" ]; then
    [ -f "$WASI_SYSROOT/lib/wasm32-wasi/libc.a" ] || [ -f "$WASI_SYSROOT/lib/libc.a" ] ||
        missing "wasi-libc in WASI_SYSROOT=$WASI_SYSROOT" "point WASI_SYSROOT at a wasi-libc sysroot, or unset it to use Debian's: $apt_hint"
    sysroot=(--sysroot="$WASI_SYSROOT")
else
    libc=$("$cc" --target=wasm32-wasi -print-file-name=libc.a 2> /dev/null || true)
    [ -f "$libc" ] ||
        missing "wasi-libc (the wasm32-wasi libc.a $cc looks for)" "on Debian 12: $apt_hint (or set WASI_SYSROOT)"
fi
builtins=$("$cc" --target=wasm32-wasi "${sysroot[@]}" -print-libgcc-file-name 2> /dev/null || true)
[ -f "$builtins" ] ||
    missing "the wasm32 compiler builtins ($builtins)" "on Debian 12: $apt_hint"
wasm_ld=${WASM_LD:-$(first_command wasm-ld-14 wasm-ld || true)}
[ -n "$wasm_ld" ] && command -v "$wasm_ld" > /dev/null 2>&1 ||
    missing "wasm-ld (WASM_LD=${WASM_LD:-wasm-ld-14})" "on Debian 12: $apt_hint"
wit_bindgen=${WIT_BINDGEN:-wit-bindgen}
command -v "$wit_bindgen" > /dev/null 2>&1 ||
    missing "wit-bindgen (WIT_BINDGEN=$wit_bindgen)" "$wit_bindgen_hint --root DIR, then put DIR/bin on PATH"
component_ld=${WASM_COMPONENT_LD:-wasm-component-ld}
command -v "$component_ld" > /dev/null 2>&1 ||
    missing "wasm-component-ld (WASM_COMPONENT_LD=$component_ld)" "$component_ld_hint --root DIR, then put DIR/bin on PATH"

version=$("$wit_bindgen" --version 2> /dev/null || true)
case "$version" in
*" 0.63.0"*) ;;
*) echo "build.sh: warning: $version is not wit-bindgen 0.63.0, the version driver.c was written for ($wit_bindgen_hint)" >&2 ;;
esac

# Bindings: build/storage_driver.{c,h} and build/storage_driver_component_type.o (named after
# the world).
rm -rf "$build"
mkdir -p "$build"
if ! log=$("$wit_bindgen" c "$here/wit" --world storage-driver --out-dir "$build" 2>&1); then
    echo "$log" >&2
    exit 1
fi
# driver.c replaces two post-return functions that the bindings define weak (it lends stored
# bytes instead of returning copies): check that they are still there under the same names.
for f in driver.get-content:driver_get_content reader.read:reader_read; do
    grep -A1 -F "__weak__, __export_name__(\"cabi_post_wharf:storage/driver@0.2.0#[method]${f%%:*}\")" \
        "$build/storage_driver.c" |
        grep -q "^void __wasm_export_exports_wharf_storage_driver_method_${f#*:}_post_return(" ||
        missing "the weak post-return function of ${f%%:*} in the generated bindings" \
            "driver.c was written for wit-bindgen 0.63.0: $wit_bindgen_hint"
done

cflags=(--target=wasm32-wasi "${sysroot[@]}" -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$build")
"$cc" "${cflags[@]}" -Wall -Wextra -Werror -c "$here/driver.c" -o "$build/driver.o"
"$cc" "${cflags[@]}" -Wall -Wextra -Werror -c "$build/storage_driver.c" -o "$build/storage_driver.o"

# A reactor (no main), linked by wasm-component-ld, which calls wasm-ld and then makes the
# component, adapting wasi-libc's preview1 imports (only the clock here) to WASI 0.2.
# --strip-debug drops the DWARF that Debian's libc.a carries and keeps the name section, so a
# trap's backtrace still names the C functions. The 1 MiB stack comes first in memory (as
# Rust lays it out), so overflowing it traps instead of overwriting static data.
mkdir -p "$(dirname "$out")"
"$cc" "${cflags[@]}" -mexec-model=reactor -fuse-ld="$(command -v "$component_ld")" \
    -Wl,--wasm-ld-path="$(command -v "$wasm_ld")" -Wl,--strip-debug \
    -Wl,--stack-first -Wl,-z,stack-size=1048576 \
    "$build/driver.o" "$build/storage_driver.o" "$build/storage_driver_component_type.o" \
    -o "$out"

elapsed=$((($(date +%s%N) - started) / 1000000))
size=$(stat -c %s "$out")
printf '%s: %d bytes (%d KiB), built in %d.%03d s\n' "$out" "$size" $(((size + 1023) / 1024)) \
    $((elapsed / 1000)) $((elapsed % 1000))
