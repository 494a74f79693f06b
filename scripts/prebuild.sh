#!/bin/sh
# Builds the prebuilt addons that `npm pack` ships in prebuilds/ (run by the
# `prepack` script; prebuilds/ is not kept in git). Node-API, so one build per
# platform and architecture serves every Node version; tagged with the libc
# so that a musl system (Alpine) builds from source instead of loading a
# glibc binary.
#
#   host:  prebuilds/<platform>-<arch>/native-selectors.<libc>.node
#   arm64: on an x64 Linux with aarch64-linux-gnu-g++ (Debian:
#          g++-aarch64-linux-gnu), also prebuilds/linux-arm64/; CI checks it
#          under qemu-user. Skipped without the cross compiler, or with
#          PREBUILD_HOST_ONLY=1.
#
# The prebuilds never link libkqueue (the opt-in build for testing the kqueue
# backend on Linux), whatever the environment says.
set -eu
cd "$(dirname "$0")/.."
export NATIVE_SELECTORS_LIBKQUEUE=
rm -rf prebuilds
# arm64 first: each prebuildify run leaves its build in build/, and the last
# one should be the host's, which the checkout's own tests load.
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ "${PREBUILD_HOST_ONLY:-}" != 1 ]; then
  if command -v aarch64-linux-gnu-g++ >/dev/null 2>&1; then
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
      prebuildify --napi --tag-libc --strip --arch arm64 --strip-bin aarch64-linux-gnu-strip
  else
    echo "prebuild: no aarch64-linux-gnu-g++, so no linux-arm64 prebuild (it builds from source there)" >&2
  fi
fi
prebuildify --napi --tag-libc --strip
