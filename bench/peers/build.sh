#!/usr/bin/env bash
# Build every reference peer (see WORKLOADS.md) offline into one build folder.
#
#   bench/peers/build.sh [OUT]      OUT defaults to <repo>/build/bench/peers
#
# Produces OUT/{tokio-bench,smol-bench,go-bench,uvbench,evbench}. Everything the
# build writes (cargo target dirs, Go's build cache) lives under OUT, so the
# source tree stays clean. A peer whose toolchain or Debian package is missing
# is skipped with one line; a peer that fails to compile makes the script exit 1
# after the others were tried. Incremental: cargo and the mtime checks below
# make a second run take about a second.
#
# Debian packages: librust-tokio-dev librust-smol-dev librust-async-executor-dev
# librust-async-lock-dev golang-go libuv1-dev libev-dev pkg-config (+ cargo/rustc,
# gcc).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/bench/peers}
mkdir -p "$out"
out=$(cd "$out" && pwd)       # absolute: the cargo steps below cd elsewhere
registry=/usr/share/cargo/registry   # Debian's crate sources (.cargo/config.toml)
failed=0

say() { echo "build.sh: $*"; }
skip() { say "skip $1: $2"; }
fail() { say "FAILED $1"; failed=1; }

# True when target $1 is missing or older than any of the sources after it.
stale() {
    local t=$1 s
    shift
    [[ -e $t ]] || return 0
    for s in "$@"; do [[ $s -nt $t ]] && return 0; done
    return 1
}

# rustup installs cargo under ~/.cargo/bin, which non-login shells (CI) may
# not have on PATH.
if ! command -v cargo >/dev/null && [[ -x ${HOME:-/root}/.cargo/bin/cargo ]]; then
    PATH=${HOME:-/root}/.cargo/bin:$PATH
fi

# A crate is "packaged" when Debian's registry holds some version of it.
have_crates() {
    local c
    for c in "$@"; do
        compgen -G "$registry/$c-[0-9]*" >/dev/null || return 1
    done
}

# Rust peers: cargo must run from the peer folder so that its
# .cargo/config.toml (registry = Debian's sources, offline) applies.
build_rust() {
    local name=$1 bin=$2
    shift 2
    if ! command -v cargo >/dev/null; then skip "$name" "no cargo"; return; fi
    if ! have_crates "$@"; then skip "$name" "crates missing in $registry (apt-get install librust-$name-dev ...)"; return; fi
    local target=$out/target-$name
    if (cd "$here/$name" && CARGO_TARGET_DIR=$target cargo build --release --offline --quiet); then
        # copy only when changed, so the binary's mtime means "rebuilt"
        cmp -s "$target/release/$bin" "$out/$bin" || cp "$target/release/$bin" "$out/$bin"
        say "ok $name -> $out/$bin"
    else
        fail "$name"
    fi
}

build_go() {
    if ! command -v go >/dev/null; then skip go "no go (apt-get install golang-go)"; return; fi
    local src=$here/go
    if stale "$out/go-bench" "$src/main.go" "$src/go.mod" "$(command -v go)"; then
        # GOPROXY=off: never fetch; the module has no dependencies.
        if (cd "$src" && GOPROXY=off GOFLAGS=-mod=mod GOCACHE=$out/go-cache \
                GOTOOLCHAIN=local go build -o "$out/go-bench" .); then
            say "ok go -> $out/go-bench"
        else
            fail go
        fi
    else
        say "ok go (up to date)"
    fi
}

build_c() {
    local name=$1 src=$2 bin=$3
    shift 3    # the rest: compiler flags and libraries
    if ! command -v gcc >/dev/null; then skip "$name" "no gcc"; return; fi
    if stale "$out/$bin" "$src"; then
        if gcc -O2 -o "$out/$bin" "$src" "$@"; then
            say "ok $name -> $out/$bin"
        else
            fail "$name"
        fi
    else
        say "ok $name (up to date)"
    fi
}

build_rust tokio tokio-bench tokio
build_rust smol smol-bench smol async-executor async-lock
build_go
if command -v pkg-config >/dev/null && pkg-config --exists libuv; then
    # word splitting of pkg-config's output is intended
    # shellcheck disable=SC2046
    build_c libuv "$here/libuv/uvbench.c" uvbench $(pkg-config --cflags --libs libuv)
else
    skip libuv "no libuv via pkg-config (apt-get install libuv1-dev pkg-config)"
fi
if [[ -e /usr/include/ev.h ]]; then
    build_c libev "$here/libev/evbench.c" evbench -lev
else
    skip libev "no ev.h (apt-get install libev-dev)"
fi
exit $failed
