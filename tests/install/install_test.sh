#!/usr/bin/env bash
# make install works: install into a scratch prefix, then build a tiny program against it
# with pkg-config and with CMake's find_package, and run both.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name weft.pc)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig LD_LIBRARY_PATH=$libdir

# Only the weft_ API leaves the shared library.
bad=$(nm -D --defined-only "$libdir/libweft.so" | awk '{print $3}' | grep -v '^weft_' || true)
[ -z "$bad" ] || { echo "non-weft symbols exported: $bad"; exit 1; }

cc -Wall -Werror "$src/tests/install/consumer.c" $(pkg-config --cflags --libs weft) -o "$tmp/pc"
"$tmp/pc"
cmake -S "$src/tests/install/cmake_consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"
echo "install: pkg-config and find_package both work"
