#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Goal: an installed logstore is usable by another project, both ways
# the README promises. Method: `cmake --install` this build into a
# temporary prefix; check the files (headers, shared library with its
# SONAME, static library, CLI, man page, CMake package, .pc files); build
# tests/install/consumer.c with find_package(logstore) against the shared
# and the static target, and with pkg-config (shared, and static with
# --static); run each build on a fresh log.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
# (EXTRA_CFLAGS: the sanitizer flags of a sanitizer build, so the
# consumer links the same runtime as the installed library).
set -eu
build=$1
src=$2
extra=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() {
	echo "test_install: FAILED: $*" >&2
	exit 1
}

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
	fail "cmake --install: $(cat "$tmp/install.log")"

libdir=$(dirname "$(find "$prefix" -name 'liblogstore.a' | head -n 1)")
[ -d "$libdir" ] || fail "no liblogstore.a installed"
for f in include/logstore.h bin/logstore share/man/man1/logstore.1; do
	[ -f "$prefix/$f" ] || fail "$f not installed"
done
for f in liblogstore.so liblogstore.so.0.2 pkgconfig/logstore.pc \
	cmake/logstore/logstoreConfig.cmake \
	cmake/logstore/logstoreConfigVersion.cmake \
	cmake/logstore/logstoreTargets.cmake; do
	[ -e "$libdir/$f" ] || fail "$libdir/$f not installed"
done
soname=$(objdump -p "$libdir/liblogstore.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "liblogstore.so.0.2" ] || fail "SONAME is '$soname'"
grep -q '^Requires.private: liburing' "$libdir/pkgconfig/logstore.pc" ||
	fail "logstore.pc lacks Requires.private: liburing"
"$prefix/bin/logstore" --version | grep -q '^logstore ' ||
	fail "installed CLI does not run"

run() { # name binary
	LD_LIBRARY_PATH=$libdir "$2" "$tmp/log-$1" >"$tmp/$1.out" 2>&1 ||
		fail "$1: $(cat "$tmp/$1.out")"
	grep -q 'OK' "$tmp/$1.out" || fail "$1 printed no OK"
	echo "test_install: $1: $(cat "$tmp/$1.out")"
}

for target in logstore::logstore logstore::logstore_static; do
	name=cmake-$(echo "$target" | sed 's/.*:://')
	cmake -S "$src/tests/install" -B "$tmp/$name" \
		-DCMAKE_PREFIX_PATH="$prefix" -DLOGSTORE_TARGET="$target" \
		-DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
		>"$tmp/$name.log" 2>&1 || fail "$name configure: $(cat "$tmp/$name.log")"
	cmake --build "$tmp/$name" >>"$tmp/$name.log" 2>&1 ||
		fail "$name build: $(cat "$tmp/$name.log")"
	run "$name" "$tmp/$name/consumer"
done

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc=${CC:-cc}
# shellcheck disable=SC2046 # word splitting of the flags is intended
$cc $extra -o "$tmp/pc-shared" "$src/tests/install/consumer.c" \
	$(pkg-config --cflags --libs logstore) || fail "pkg-config shared build"
run pc-shared "$tmp/pc-shared"
# shellcheck disable=SC2046
$cc $extra -o "$tmp/pc-static" "$src/tests/install/consumer.c" \
	$(pkg-config --cflags logstore) "$libdir/liblogstore.a" \
	$(pkg-config --static --libs-only-l --libs-only-other logstore | sed 's/-llogstore//') ||
	fail "pkg-config static build"
run pc-static "$tmp/pc-static"
echo "test_install: OK"
