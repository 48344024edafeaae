#!/usr/bin/env bash
# tests/http/fuzz/run_fuzz.sh FUZZER CORPUS_DIR REGRESSIONS WORKDIR - replay the kept
# regression inputs, then fuzz for 20 s or 50,000 runs from a fresh copy of the seed corpus
# (the shared corpus itself is never written). A crashing input is left in WORKDIR.
set -eu
FUZZ=$1; CORPUS=$2; REG=$3; WORK=$4
rm -rf "$WORK"; mkdir -p "$WORK/corpus"
cp "$CORPUS"/http1/* "$WORK/corpus/"
cd "$WORK"
if ls "$REG"/* >/dev/null 2>&1; then
  "$FUZZ" "$REG"/*
fi
"$FUZZ" -dict="$CORPUS/http.dict" -max_total_time=20 -runs=50000 -rss_limit_mb=2048 \
        -print_final_stats=1 corpus/ 2>&1 | tail -15
