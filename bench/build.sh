#!/bin/sh
# Compile the benchmark's C programs into bench/bin/ (gitignored).
# CC and CFLAGS may be overridden from the environment.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cflags=${CFLAGS:--O2 -Wall -Wextra}
mkdir -p "$here/bin"
# shellcheck disable=SC2086  # CFLAGS is a list of words
$cc $cflags -o "$here/bin/loadgen" "$here/loadgen.c" -lm
# shellcheck disable=SC2086
$cc $cflags -o "$here/bin/c-epoll-echo" "$here/c-epoll-echo.c"
