#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ (build/ and build-cmake/ are not touched) and runs the vitest
# suite against that build, then fails on any sanitizer finding.
#
#   bash scripts/sanitize.sh [RESULTS_JSON] [-- VITEST_ARGS...]
#
# RESULTS_JSON: where vitest writes its JSON report (default
# build-asan/vitest-results.json); if the sanitizers find anything, the
# report says so too (success: false, sanitizerFindings: [...]). VITEST_ARGS,
# after `--`, narrow the run (e.g. `-- test/selector.test.ts`); the default
# is the whole suite but two files (see below).
#
# How it works:
# - Node itself is not instrumented, so the ASan runtime the addon links
#   against is LD_PRELOADed into every process of the run (vitest, its fork
#   workers, the examples e2e tests spawn; the env reaches them all), and
#   NATIVE_SELECTORS_ADDON points src/native.ts at the ASan build.
# - ASan errors abort the process at once (halt_on_error, abort_on_error)
#   and are written to build-asan/logs/. UBSan is built with
#   -fno-sanitize-recover, so any undefined behaviour kills the process; its
#   reports go to stderr, which is captured in build-asan/sanitize-output.txt.
# - Leaks: LeakSanitizer over a whole node process also reports Node's and
#   V8's own leftovers, so its exit code is ignored (exitcode=0) and
#   scripts/sanitize/scan-logs.mjs fails only on leaks whose allocation stack
#   has a frame in the addon. Vitest kills its workers with SIGTERM (no
#   at-exit check), so scripts/sanitize/preload.cjs runs the check in each
#   worker when its test file is done, through build-asan/lsan_check.node.
# Exits non-zero when a test fails or the scan finds anything.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=build-asan

results="$root/$out/vitest-results.json"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  results=$(realpath -m "$1")
  shift
fi
[ "${1:-}" = "--" ] && shift
vitest_args=("$@")
# The whole suite but two files, unless files are named:
# - test/package.test.ts packs and installs the package, building the addon
#   again with node-gyp: every compiler process would run under the
#   preloaded ASan runtime (and its leak check), which takes over 4 minutes,
#   and none of it exercises the addon's memory use beyond a load.
# - test/e2e/nonblocking-busy-loop.test.ts asserts a throughput (over 10,000
#   busy-loop turns in its DURATION); under ASan the example manages about
#   5,600. It can come back once its threshold allows for ASan.
# - test/reliability/ pushes hundreds of MiB and 10,000 connections through
#   the examples; under ASan that is minutes of CI for paths the rest of the
#   suite already runs through the addon.
# Everything runs 3-5x slower under ASan (a node start takes seconds), so
# the per-test time limits are raised rather than the tests thinned.
if [ ${#vitest_args[@]} -eq 0 ]; then
  vitest_args=(--exclude test/package.test.ts --exclude test/e2e/nonblocking-busy-loop.test.ts
               --exclude 'test/reliability/**')
fi
vitest_args+=(--testTimeout=90000 --hookTimeout=90000)

step() { printf '\n=== %s\n' "$*"; }
die() { printf 'sanitize.sh: %s\n' "$*" >&2; exit 2; }

step "build the addon with ASan + UBSan into $out/"
# Release (cmake-js sets CMAKE_CXX_FLAGS itself, so the flags go in the
# Release ones): -O1 -g keeps stacks readable, frame pointers keep the fast
# unwinder's leak stacks complete. float-cast-overflow is not part of
# -fsanitize=undefined in GCC, and is exactly the double -> int class of bug
# the argument checks must prevent.
san="-fsanitize=address,undefined,float-cast-overflow,float-divide-by-zero -fno-sanitize-recover=all"
npx cmake-js compile --out "$out" \
  --CDCMAKE_CXX_FLAGS_RELEASE="-O1 -g -fno-omit-frame-pointer $san" \
  --CDCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >"$out.build.log" 2>&1 \
  || { cat "$out.build.log"; die "the ASan build failed"; }
mv -f "$out.build.log" "$out/build.log"
addon="$root/$out/Release/native_selectors.node"
[ -f "$addon" ] || die "no $addon after the build"

# The exact runtime the addon was linked against (gcc 12: libasan.so.8).
runtime=$(ldd "$addon" | awk '/libasan\.so/ { print $3; exit }')
[ -n "$runtime" ] && [ -f "$runtime" ] || runtime=$(readlink -f "$(${CXX:-g++} -print-file-name=libasan.so)")
[ -f "$runtime" ] || die "no AddressSanitizer runtime found (looked for libasan.so)"

step "build the in-process leak check helper"
napi_include=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$napi_include/node_api.h" ] || napi_include=$(node -p "require('node-api-headers').include_dir")
${CC:-cc} -shared -fPIC -O1 -I"$napi_include" -o "$out/lsan_check.node" scripts/sanitize/lsan-check.c \
  || die "could not build $out/lsan_check.node"

logs="$root/$out/logs"
output="$root/$out/sanitize-output.txt"
checks="$root/$out/leak-checks.txt"
rm -rf "$logs" "$output" "$checks" "$results"
mkdir -p "$logs" "$(dirname "$results")"

export NATIVE_SELECTORS_ADDON="$addon"
export NS_SANITIZE_LSAN_HELPER="$root/$out/lsan_check.node"
export NS_SANITIZE_CHECKS="$checks"
# malloc_context_size=12: stacks deep enough to reach the addon's frame
# from any allocation it makes (it is within 5 frames, Node-API included),
# and a leak check 20x faster than with the default 30: LeakSanitizer looks
# up the module of every frame it prints, and frames in V8's JIT code (in no
# module) make it re-read /proc/self/maps each time. SANITIZE_ASAN_OPTIONS
# appends options (e.g. quarantine_size_mb=64).
export ASAN_OPTIONS="log_path=$logs/asan:log_exe_name=1:detect_leaks=1:exitcode=0:halt_on_error=1:abort_on_error=1:symbolize=0:malloc_context_size=12:allocator_may_return_null=1:detect_stack_use_after_return=0${SANITIZE_ASAN_OPTIONS:+:$SANITIZE_ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
sanitized_env() {
  LD_PRELOAD="$runtime${LD_PRELOAD:+:$LD_PRELOAD}" \
  NODE_OPTIONS="--require $root/scripts/sanitize/preload.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}" "$@"
}

step "check that node really runs the ASan build"
sanitized_env node -e '
  const { readFileSync } = require("node:fs");
  const addon = process.env.NATIVE_SELECTORS_ADDON;
  require(addon);
  const maps = readFileSync("/proc/self/maps", "utf8");
  if (!maps.includes(addon)) throw new Error("the ASan addon is not mapped");
  if (!/libasan\.so/.test(maps)) throw new Error("the ASan runtime is not mapped");
  if (require(process.env.NS_SANITIZE_LSAN_HELPER).leakCheck() < 0) throw new Error("no LeakSanitizer runtime");
  console.log("ok: " + addon + " under " + maps.match(/\S*libasan\.so\S*/)[0]);
' || die "node does not load the ASan addon with the ASan runtime"
rm -f "$logs"/* "$checks"  # that check's own (Node-only) leak report

step "vitest under ASan + UBSan: ${vitest_args[*]}"
start=$(date +%s)
sanitized_env npx vitest run --reporter=default --reporter=json --outputFile.json="$results" \
  "${vitest_args[@]}" 2>&1 | tee "$output"
vitest_status=${PIPESTATUS[0]}
echo "vitest exited with $vitest_status after $(( $(date +%s) - start )) s"

node scripts/sanitize/scan-logs.mjs --logs "$logs" --output "$output" --checks "$checks" \
  --addon "$addon" --results "$results"
scan_status=$?

if [ "$vitest_status" -ne 0 ] || [ "$scan_status" -ne 0 ]; then
  echo "sanitize: FAIL (vitest exit $vitest_status, sanitizer scan exit $scan_status; logs in $out/)"
  exit 1
fi
echo "sanitize: PASS"
