#!/usr/bin/env bash
# tests/http/wrk_smoke.sh BIN REPO SCRATCH - a short wrk load (2 s plaintext, 2 s pipelined,
# 2 s a static file) with no errors and no non-2xx answers. Not a benchmark (bench/http/ is).
# Exit 77 (skip) without wrk.
set -u
BIN=$1; REPO=$2; SCRATCH=$3
command -v wrk >/dev/null || { echo "wrk not installed: skipped"; exit 77; }
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH/root"; cd "$SCRATCH"
head -c 4096 /dev/urandom > root/4k.bin
"$BIN" --listen 127.0.0.1:0 --root root --plaintext / --workers 2 2> server.err &
PID=$!
trap 'kill -9 $PID 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q 'http://127.0.0.1:' server.err 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' server.err | head -1)
U=http://127.0.0.1:$PORT
fails=0
run() { # name, wrk args...
  local name=$1; shift
  local out; out=$(timeout 20 wrk -t1 -c50 -d2s "$@" 2>&1)
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  if echo "$out" | grep -qE 'Non-2xx|Socket errors' || [ -z "$rps" ]; then
    echo "FAIL $name"; echo "$out"; fails=$((fails+1))
  else
    echo "ok   $name: $rps req/s"
  fi
}
run plaintext "$U/"
run pipelined -s "$REPO/bench/http/lua/pipeline.lua" "$U/" -- 16
run static_4k "$U/4k.bin"
kill -TERM $PID; wait $PID || fails=$((fails+1))
trap - EXIT
[ $fails -eq 0 ] && rm -rf "$SCRATCH"
[ $fails -eq 0 ]
