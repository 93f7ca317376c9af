#!/usr/bin/env node
// Builds driver.js into a WebAssembly component of the world `storage-driver`
// (wharf:storage@0.1.0, wit/0.1.0 next to this file). `./build.sh` runs it after installing
// componentize-js; run it by hand once `npm ci` has:
//
//   node build.mjs [OUT.wasm]      (or: npm run build -- OUT.wasm)
//
// The output path is the first argument, else $WHARF_JS_OUT, else js-inmemory.wasm next to this
// file. The source and the WIT are driver.js and wit/0.1.0 next to this file, unless
// $WHARF_JS_SOURCE and $WHARF_JS_WIT name others (Wharf's own build runs a copy of this script in
// its build directory, where npm installed componentize-js). Runs offline once `npm ci` has
// installed it.

import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentize } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? process.env.WHARF_JS_OUT ?? join(here, 'js-inmemory.wasm'));

// StarlingMonkey's optional WASI features. The driver needs only `clocks`: without it Date.now()
// is frozen at the time of this build, and stat's mod-time must advance. Keeping it makes the
// component import, beyond wharf:storage, wasi:clocks/{wall-clock,monotonic-clock} and what the
// WASI preview1 adapter carrying the clock brings along: wasi:io/{poll,error,streams} and
// wasi:cli/stderr (for its own fatal messages). All of them are granted by a deny-by-default
// WASI context (stderr discarded).
const disableFeatures = ['stdio', 'random', 'http', 'fetch-event'];

const started = performance.now();
const { component } = await componentize({
  sourcePath: resolve(process.env.WHARF_JS_SOURCE ?? join(here, 'driver.js')),
  witPath: resolve(process.env.WHARF_JS_WIT ?? join(here, 'wit', '0.1.0')),
  worldName: 'storage-driver',
  disableFeatures,
});
await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`wrote ${out}: ${component.length} bytes in ${seconds} s`);
