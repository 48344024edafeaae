#!/usr/bin/env bash
# Side-by-side benchmark: weft against its peers (shared/WORKLOADS.md).
#
#   bench/run.sh [workload...]         run, then print a markdown report
#   bench/run.sh --report DIR          re-print the report of an earlier run
#
# For each workload, REPS rounds; each round starts one fresh process per
# runner (weft, then every peer), so that the runners are interleaved and
# share the machine's drift. A runner's figure is the median of its process
# medians. Raw outputs: build/bench/results/<timestamp>/.
#
# Env knobs:
#   REPS=3                      rounds (processes per runner and workload)
#   PEERS="tokio tokio+keep smol smol+keep go libuv libev"   runners to include
#   WEFT_BENCH=build/bench/weft-bench    weft's bench binary
#   PEER_BIN=build/bench/peers           where bench/peers/build.sh put the peers
#
# "+keep" runs the same binary with glibc's heap trimming and mmap threshold
# raised, i.e. with memory kept like jemalloc/mimalloc users get (see
# shared/research/vm-limits.md); weft is ahead only if it beats both variants.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

KEEP_TUNABLES=glibc.malloc.trim_threshold=4000000000:glibc.malloc.mmap_threshold=4000000000
ALL_PEERS="tokio tokio+keep smol smol+keep go libuv libev"
DEFAULT_WORKLOADS="spawn_many spawn_many_ct chained_spawn chained_spawn_ct yield_many yield_many_ct"

REPS=${REPS:-3}
PEERS=${PEERS:-$ALL_PEERS}
WEFT_BENCH=${WEFT_BENCH:-$root/build/bench/weft-bench}
PEER_BIN=${PEER_BIN:-$root/build/bench/peers}

# Workloads each peer implements (mirrors the peers' own `all` lists). weft is
# not listed: it is always tried, and a missing figure shows as "-".
RUST_W="spawn_many spawn_many_ct chained_spawn chained_spawn_ct yield_many yield_many_ct
 ping_pong ping_pong_ct mpsc_bounded mpsc_unbounded semaphore sleep_1000x50ms
 timer_churn tcp_echo spawn_blocking sleep_1Mx100ms pending_1M"
GO_W="spawn_many spawn_many_ct chained_spawn chained_spawn_ct yield_many yield_many_ct
 ping_pong ping_pong_ct mpsc_bounded semaphore sleep_1000x50ms timer_churn tcp_echo
 sleep_1Mx100ms pending_1M"
# Tokio only (weft's own workloads, added to the Tokio peer): no smol counterpart.
TOKIO_ONLY_W="priority_latency file_read_4k file_read_4k_pread"
# Fibers are compared with Go's goroutines running the stackless workload of the same name.
GO_FIBER_W="fiber_yield_many fiber_spawn_many fiber_ping_pong"
UV_W="sleep_1000x50ms timer_churn spawn_blocking async_pingpong tcp_echo sleep_1Mx100ms pending_1M"
EV_W="sleep_1000x50ms timer_churn tcp_echo sleep_1Mx100ms pending_1M"

# The report: everything numeric is done in python3 from the run's manifest.
report() {
    python3 - "$1" <<'EOF'
import os, statistics, sys
d = sys.argv[1]
COLS = ["weft", "tokio", "tokio+keep", "smol", "smol+keep", "go", "libuv", "libev"]

with open(os.path.join(d, "runners")) as f:
    runners = [ln.split("\t") for ln in f.read().splitlines()]
bins = dict(runners)
runner_bin = bins.get
runners = [r for r, _ in runners]
cols = [c for c in COLS if c in runners]
vals, units, order = {}, {}, {}   # vals[(workload, metric)][runner] = [per-process]
notes = {}                        # note -> failed reps
with open(os.path.join(d, "manifest.tsv")) as f:
    for line in f:
        w, r, rep, rc, path = line.rstrip("\n").split("\t")
        order.setdefault(w, [])
        if rc == "missing":
            notes.setdefault(f"{r}: not run, binary not found ({runner_bin(r)})", [])
            continue
        if rc != "0":
            how = "timed out (200 s)" if rc == "124" else f"exit {rc}"
            notes.setdefault(f"{r} {w}: {how}, see {w}/{r}.N.err; rep", []).append(rep)
        with open(path + ".out") as o:
            for ln in o:
                p = ln.split()
                if len(p) < 2:
                    continue
                try:
                    v = float(p[1])
                except ValueError:
                    continue
                m = p[0]
                if m not in order[w]:
                    order[w].append(m)
                units[m] = p[2] if len(p) > 2 else ""
                vals.setdefault((w, m), {}).setdefault(r, []).append(v)

def direction(m, unit):
    """-1: lower is better, +1: higher is better, 0: not a score."""
    if m.endswith("_per_s"):
        return 1
    if unit in ("ns", "ms", "B", "MiB"):
        return -1
    return 0

def fmt(v):
    return "-" if v is None else f"{v:.1f}"

hdr = ["workload metric"] + cols + ["best peer", "weft/best"]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(hdr) - 1)) + "|")
for w, metrics in order.items():
    if not metrics:
        print("| " + " | ".join([w] + ["-"] * (len(hdr) - 1)) + " |")
    for m in metrics:
        per = vals.get((w, m), {})
        med = {r: statistics.median(per[r]) for r in per}
        sign = direction(m, units[m])
        peers = [(med[r], r) for r in cols if r != "weft" and r in med]
        best = ratio = "-"
        if peers and sign:
            bv, best = (min if sign < 0 else max)(peers)
            wv = med.get("weft")
            if wv is not None and bv > 0:
                ahead = wv < bv if sign < 0 else wv > bv
                ratio = f"{wv / bv:.2f} ({'ahead' if ahead else 'behind'})"
        cells = [f"{m} ({units[m]})"] + [fmt(med.get(c)) for c in cols] + [best, ratio]
        print("| " + " | ".join(cells) + " |")
print()
print("Each figure is the median of the per-process medians. weft/best = weft's figure")
print("divided by the best peer's; ns, ms, B, MiB: lower is better; *_per_s: higher is")
print("better. \"+keep\": the same peer binary with glibc keeping freed memory.")
for n, reps in notes.items():
    print(f"- {n}" + (" " + ",".join(reps) if reps else ""))
EOF
}

if [[ ${1:-} == --report ]]; then
    [[ -n ${2:-} && -f $2/manifest.tsv ]] || { echo "usage: $0 --report RESULTS_DIR" >&2; exit 2; }
    cat "$2/header.md" 2>/dev/null
    report "$2"
    exit
fi

workloads=("$@")
[[ ${#workloads[@]} -gt 0 ]] || read -r -a workloads <<<"$DEFAULT_WORKLOADS"

runners=(weft)
for p in $ALL_PEERS; do
    [[ " $PEERS " == *" $p "* ]] && runners+=("$p")
done

# binary of a runner (keep variants share their base peer's binary)
bin_of() {
    case ${1%+keep} in
        weft) echo "$WEFT_BENCH" ;;
        tokio) echo "$PEER_BIN/tokio-bench" ;;
        smol) echo "$PEER_BIN/smol-bench" ;;
        go) echo "$PEER_BIN/go-bench" ;;
        libuv) echo "$PEER_BIN/uvbench" ;;
        libev) echo "$PEER_BIN/evbench" ;;
    esac
}

# does runner $1 implement workload $2?
implements() {
    local list
    case ${1%+keep} in
        weft) return 0 ;;
        tokio) list="$RUST_W $TOKIO_ONLY_W" ;;
        smol) list=$RUST_W ;;
        go) list="$GO_W $GO_FIBER_W" ;;
        libuv) list=$UV_W ;;
        libev) list=$EV_W ;;
    esac
    [[ " ${list//$'\n'/ } " == *" $2 "* ]]
}

# run one process of runner $1 on workload $2; output to $3.out/.err
run_one() {
    local r=$1 w=$2 o=$3 bin
    bin=$(bin_of "$r")
    # Start from a clean slate so that a knob in the caller's environment does
    # not leak into only some runners; then add each runner's own.
    local env=(env -u GLIBC_TUNABLES -u GOMAXPROCS -u UV_THREADPOOL_SIZE)
    [[ $r == *+keep ]] && env+=("GLIBC_TUNABLES=$KEEP_TUNABLES")
    if [[ $r == go ]]; then
        # go-bench also sets this itself per workload; setting it here too
        # means the runtime starts with that many Ps.
        if [[ $w == *_ct ]]; then env+=(GOMAXPROCS=1); else env+=(GOMAXPROCS=2); fi
    fi
    if [[ $r == go && $w == fiber_* ]]; then
        # A goroutine is Go's fiber: run the plain workload, report it under the fiber name.
        timeout -k 10 200 "${env[@]}" "$bin" "${w#fiber_}" 2>"$o.err" | sed 's/^/fiber_/' >"$o.out"
        return "${PIPESTATUS[0]}"
    fi
    timeout -k 10 200 "${env[@]}" "$bin" "$w" >"$o.out" 2>"$o.err"
}

stamp=$(date +%Y%m%d-%H%M%S)
res=$root/build/bench/results/$stamp
[[ -e $res ]] && res+=-$$   # two runs in the same second
mkdir -p "$res"
for r in "${runners[@]}"; do printf '%s\t%s\n' "$r" "$(bin_of "$r")"; done >"$res/runners"
: >"$res/manifest.tsv"

{
    cmake_cache=$root/build/CMakeCache.txt
    echo "# weft vs peers: $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo
    echo "- kernel $(uname -r); CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
    echo "- weft: $WEFT_BENCH ($(git -C "$root" describe --always --dirty 2>/dev/null || echo 'no commit'))"
    if [[ -f $cmake_cache ]]; then
        flags=$(grep -E '^(CMAKE_BUILD_TYPE|WEFT_LTO|WEFT_NATIVE)[:=]' "$cmake_cache" | tr '\n' ' ')
        echo "- build/CMakeCache.txt: ${flags:-no CMAKE_BUILD_TYPE/WEFT_LTO/WEFT_NATIVE entries}"
    else
        echo "- build/CMakeCache.txt: not found"
    fi
    echo "- REPS=$REPS; runners: ${runners[*]}; raw outputs: ${res#"$root"/}"
    echo
} | tee "$res/header.md"

for w in "${workloads[@]}"; do
    for ((rep = 1; rep <= REPS; rep++)); do
        for r in "${runners[@]}"; do
            implements "$r" "$w" || continue
            o=$res/$w/$r.$rep
            mkdir -p "$res/$w"
            if [[ ! -x $(bin_of "$r") ]]; then
                # note it once, in the first round
                ((rep == 1)) && printf '%s\t%s\t%s\tmissing\t%s\n' "$w" "$r" "$rep" "$o" >>"$res/manifest.tsv"
                continue
            fi
            t0=${EPOCHREALTIME/./}   # microseconds
            run_one "$r" "$w" "$o"
            rc=$?
            printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$r" "$rep" "$rc" "$o" >>"$res/manifest.tsv"
            ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
            printf 'run.sh: %s rep %d/%d %s: exit %d, %d.%03d s\n' "$w" "$rep" "$REPS" "$r" "$rc" $((ms / 1000)) $((ms % 1000)) >&2
        done
    done
done

report "$res" | tee "$res/report.md"
