#!/bin/sh
# Compile the benchmark's C programs into bench/bin/ (gitignored).
# CC and CFLAGS may be overridden from the environment; FORCE=1 rebuilds.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cflags=${CFLAGS:--O2 -Wall -Wextra}
mkdir -p "$here/bin"

build() { # build NAME EXTRA_LIBS
  out="$here/bin/$1" src="$here/$1.c"
  if [ "${FORCE:-0}" != 1 ] && [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then
    return 0
  fi
  # Link to a temporary name and rename: a benchmark already running (or a
  # second build) never sees a missing or half-written binary.
  tmp="$out.tmp.$$"
  # shellcheck disable=SC2086  # CFLAGS is a list of words
  $cc $cflags -o "$tmp" "$src" $2 || { rm -f "$tmp"; exit 1; }
  mv -f "$tmp" "$out"
}

build loadgen -lm
build c-epoll-echo ""
build micro-syscalls ""
build micro-hold ""
