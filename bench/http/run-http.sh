#!/usr/bin/env bash
# bench/http/run-http.sh - weft-httpd and its peers (nginx, h2o, hyper 0.14 + tokio, Go
# net/http, and the raw-epoll C "hello" floor) side by side on 127.0.0.1, with the HTTP
# workloads of WORKLOADS.md. Adapted from the team's anchor script (../shared/peers/http):
# weft-httpd is the first server, the report adds req/s per server core and GiB/s, and the
# table at the end compares with the targets of issue 7. Every load run is time-bounded and
# every server is stopped by its PID.
#
#   bench/http/run-http.sh                         # install, build, run (pinned, REPS=3)
#   SKIP_INSTALL=1 REPS=1 DUR=5 bench/http/run-http.sh weft nginx
#   WORKLOADS="plain_c100 pipe16" bench/http/run-http.sh
#
# Env:
#   WEFT_HTTPD=path   the weft-httpd binary (default: ../../build/apps/weft-httpd)
#   REPS=3            repetitions (servers interleaved inside each repetition)
#   DUR=10            seconds per load run
#   MODES="pinned"    pinned: server on CPU 1, wrk on CPU 0 (taskset); also: unpinned
#   WORKLOADS=...     subset of: plain_c100 plain_c1000 pipe16 static_4k static_1m churn_wrk
#                     lat_10k churn_ab h2load_c100 (default: the first five)
#   SKIP_INSTALL=1    do not apt-get install
#   BUSY_MAX=15       wait (up to 120 s) until other load is below this % of one core
#
# Output: raw lines in results/raw-<stamp>.txt; medians, one line per (server, mode,
# workload), in results/medians-<stamp>.txt:
#   server mode workload rps=.. p50_us=.. p99_us=.. p999_us=.. srv_cpu%=.. client_cpu%=..
#   other_cpu%=.. srv_pss_mib=.. errors=.. gib_s=.. rps_per_core=.. runs=..
set -uo pipefail
cd "$(dirname "$0")"
HERE=$PWD
REPS=${REPS:-3}
DUR=${DUR:-10}
MODES=${MODES:-"pinned"}
ALL_WL="plain_c100 plain_c1000 pipe16 static_4k static_1m churn_wrk churn_ab lat_10k h2load_c100"
# default set (what RESULTS.md quotes); churn_ab and h2load_c100 are optional cross-checks
WORKLOADS=${WORKLOADS:-"plain_c100 plain_c1000 pipe16 static_4k static_1m"}
UNPINNED_WORKLOADS=${UNPINNED_WORKLOADS:-"plain_c100 pipe16 static_4k churn_wrk"}
BUSY_MAX=${BUSY_MAX:-15}
SERVERS=("$@"); [ ${#SERVERS[@]} -eq 0 ] && SERVERS=(weft nginx h2o hyper go cepoll)
WEFT_HTTPD=${WEFT_HTTPD:-$HERE/../../build/apps/weft-httpd}
RUNDIR=/tmp/weft-http-bench
mkdir -p "$RUNDIR" results
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- install
if [ -z "${SKIP_INSTALL:-}" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    nginx-light h2o wrk nghttp2-client apache2-utils golang-go \
    librust-hyper-dev librust-tokio-dev curl util-linux procps >/dev/null
fi

# ---------------------------------------------------------------- build
mkdir -p www/static
printf 'Hello, World!' > www/hello.txt
[ "$(stat -c %s www/static/4k.bin 2>/dev/null)" = 4096 ]    || head -c 4096    /dev/urandom > www/static/4k.bin
[ "$(stat -c %s www/static/1m.bin 2>/dev/null)" = 1048576 ] || head -c 1048576 /dev/urandom > www/static/1m.bin
case " ${SERVERS[*]} " in *" hyper "*) (cd hyper && CARGO_TARGET_DIR="$RUNDIR/hyper-target" cargo build --release --offline --quiet) || { echo "hyper build failed" >&2; exit 1; };; esac
case " ${SERVERS[*]} " in *" go "*) (cd go && GOPROXY=off GOFLAGS=-mod=mod go build -o "$RUNDIR/go-anchor" .) || { echo "go build failed" >&2; exit 1; };; esac
case " ${SERVERS[*]} " in *" weft "*) [ -x "$WEFT_HTTPD" ] || { echo "no weft-httpd at $WEFT_HTTPD (make build, or set WEFT_HTTPD)" >&2; exit 1; };; esac
case " ${SERVERS[*]} " in *" cepoll "*) gcc -O2 -Wall -pthread -o "$RUNDIR/cepoll-hello" c-epoll/hello.c || exit 1;; esac

# ---------------------------------------------------------------- helpers
port_of() { case $1 in nginx) echo 8081;; h2o) echo 8082;; hyper) echo 8083;; go) echo 8084;; cepoll) echo 8085;; weft) echo 8086;; esac; }

SRV_PID=
start_server() { # $1 server, $2 mode
  local pre=""; [ "$2" = pinned ] && pre="taskset -c 1"
  local p; p=$(port_of "$1")
  case $1 in
    nginx)  $pre nginx -p "$HERE" -c conf/nginx.conf >"$RUNDIR/nginx.out" 2>&1 & SRV_PID=$! ;;
    h2o)    $pre h2o -m worker -c conf/h2o.conf        >"$RUNDIR/h2o.out" 2>&1 & SRV_PID=$! ;;
    hyper)  PORT=$p THREADS=2 DOCROOT=www $pre "$RUNDIR/hyper-target/release/hyper-anchor" >"$RUNDIR/hyper.out" 2>&1 & SRV_PID=$! ;;
    go)     PORT=$p GOMAXPROCS=2 DOCROOT=www $pre "$RUNDIR/go-anchor" >"$RUNDIR/go.out" 2>&1 & SRV_PID=$! ;;
    cepoll) $pre "$RUNDIR/cepoll-hello" 2 "$p"                  >"$RUNDIR/cepoll.out" 2>&1 & SRV_PID=$! ;;
    # the project's server: WEFT_HTTPD=path/to/weft-httpd (plaintext route at /, files under www)
    weft)   $pre "$WEFT_HTTPD" --listen "127.0.0.1:$p" --root www --workers 2 --plaintext / --quiet \
              >"$RUNDIR/weft.out" 2>&1 & SRV_PID=$! ;;
  esac
  for _ in $(seq 50); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" && return 0
    sleep 0.1
  done
  echo "server $1 did not come up" >&2; return 1
}
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  kill "$SRV_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=
}
trap 'stop_server' EXIT INT TERM

srv_pids() { echo "$SRV_PID" $(pgrep -P "$SRV_PID" 2>/dev/null); }   # children by parent PID (nginx workers)
ticks_of() { local s=0 t; for p in "$@"; do t=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}'); s=$((s+${t:-0})); done; echo $s; }
sys_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }   # user nice system irq softirq steal (ticks)
pss_kib() { local s=0 t; for p in "$@"; do t=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null); s=$((s+${t:-0})); done; echo $s; }
HZ=$(getconf CLK_TCK)

wait_quiet() { # wait until other processes use < BUSY_MAX % of one core
  local i a b
  for i in $(seq 60); do
    a=$(sys_busy); sleep 2; b=$(sys_busy)
    local pct=$(( (b-a)*100/HZ/2 ))
    [ "$pct" -lt "$BUSY_MAX" ] && return 0
    [ "$i" = 1 ] && echo "# machine busy (${pct}% of a core used by others), waiting..." >&2
  done
  echo "# still busy after 120 s, measuring anyway" >&2
}

# run one load; prints: rps p50 p99 p999 srv_cpu client_cpu other_cpu pss_mib errors
run_load() { # $1 server $2 mode $3 workload
  local p url cpre="" out="$RUNDIR/load.out" lp
  p=$(port_of "$1"); url="http://127.0.0.1:$p"
  [ "$2" = pinned ] && cpre="taskset -c 0"
  case $3 in
    plain_c100)  $cpre wrk -t1 -c100  -d"${DUR}s" --latency -s lua/stats.lua "$url/" >"$out" 2>&1 & lp=$! ;;
    plain_c1000) $cpre wrk -t1 -c1000 -d"${DUR}s" --latency -s lua/stats.lua "$url/" >"$out" 2>&1 & lp=$! ;;
    pipe16)      $cpre wrk -t1 -c256  -d"${DUR}s" -s lua/pipeline.lua "$url/" -- 16 >"$out" 2>&1 & lp=$! ;;
    static_4k)   $cpre wrk -t1 -c100  -d"${DUR}s" --latency -s lua/stats.lua "$url/static/4k.bin" >"$out" 2>&1 & lp=$! ;;
    static_1m)   $cpre wrk -t1 -c100  -d"${DUR}s" --latency -s lua/stats.lua "$url/static/1m.bin" >"$out" 2>&1 & lp=$! ;;
    churn_wrk)   $cpre wrk -t1 -c100  -d"${DUR}s" -H 'Connection: close' -s lua/stats.lua "$url/" >"$out" 2>&1 & lp=$! ;;
    churn_ab)    $cpre ab -q -c 100 -t "$DUR" -n 1000000 -s 5 "$url/" >"$out" 2>&1 & lp=$! ;;
    lat_10k)     $cpre wrk -t1 -c100  -d"${DUR}s" --latency -s lua/delay.lua "$url/" -- 10 >"$out" 2>&1 & lp=$! ;;
    h2load_c100) $cpre h2load --h1 -t1 -c100 -m1 -D "$DUR" "$url/" >"$out" 2>&1 & lp=$! ;;
  esac
  # CPU/memory window: [1 s, DUR-1 s] of the run (steady state)
  sleep 1
  local pids s0 c0 b0 s1 c1 b1 pss
  pids=$(srv_pids); s0=$(ticks_of $pids); c0=$(ticks_of $lp); b0=$(sys_busy)
  sleep $((DUR-2))
  pids=$(srv_pids); s1=$(ticks_of $pids); c1=$(ticks_of $lp); b1=$(sys_busy); pss=$(pss_kib $pids)
  wait "$lp"
  local win=$((DUR-2))
  local scpu=$(( (s1-s0)*100/HZ/win )) ccpu=$(( (c1-c0)*100/HZ/win )) tcpu=$(( (b1-b0)*100/HZ/win ))
  local ocpu=$(( tcpu - scpu - ccpu )); [ $ocpu -lt 0 ] && ocpu=0
  local rps p50=- p99=- p999=- err=0 gib=0
  case $3 in
    churn_ab)
      rps=$(awk '/^Requests per second/{print $4}' "$out")
      err=$(awk '/^Failed requests/{f=$3} /^Non-2xx/{n=$3} END{print f+n}' "$out")
      p50=$(awk '/^  50%/{print $2*1000}' "$out"); p99=$(awk '/^  99%/{print $2*1000}' "$out") ;;
    h2load_c100)
      rps=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$out")
      err=$(awk '/^requests:/{print $10+$12+$14}' "$out")   # failed + errored + timeout
      ;;
    *)
      local line; line=$(grep '^WRKRESULT' "$out")
      kv() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }
      rps=$(kv rps); p50=$(kv p50); p99=$(kv p99); p999=$(kv p999)
      gib=$(awk -v b="$(kv bytes)" -v d="$(kv duration_us)" 'BEGIN{ if (d > 0) printf "%.3f", b / (d / 1e6) / 1073741824; else print 0 }')
      err=$(( $(kv err_connect) + $(kv err_read) + $(kv err_write) + $(kv err_status) + $(kv err_timeout) ))
      # churn: the server closing after each response shows up as read errors in wrk; don't count those
      [ "$3" = churn_wrk ] && err=$(( $(kv err_connect) + $(kv err_status) + $(kv err_timeout) ))
      # wrk times a pipelined batch, not a request: latency is not comparable, drop it
      [ "$3" = pipe16 ] && { p50=-; p99=-; p999=-; }
      ;;
  esac
  echo "${rps:-0} ${p50:--} ${p99:--} ${p999:--} $scpu $ccpu $ocpu $((pss/1024)) ${err:-?} ${gib:-0}"
}

applies() { # server workload
  [ "$1" = cepoll ] && case $2 in static_*) return 1;; esac
  return 0
}

# ---------------------------------------------------------------- run
STAMP=$(date +%Y%m%d-%H%M%S)
RAW=results/raw-$STAMP.txt; : > "$RAW"
echo "# $(date -u) host: $(nproc) cpus, $(uname -r); REPS=$REPS DUR=${DUR}s MODES='$MODES'" | tee -a "$RAW"
echo "# weft-httpd: $("$WEFT_HTTPD" --version 2>/dev/null | head -1); gcc $(gcc -dumpfullversion)" | tee -a "$RAW"
echo "# versions: $(nginx -v 2>&1 | sed 's/.*: //'), h2o $(h2o -v | awk 'NR==1{print $3}'), hyper 0.14 (Debian librust-hyper-dev $(dpkg-query -W -f='${Version}' librust-hyper-dev 2>/dev/null)), tokio $(dpkg-query -W -f='${Version}' librust-tokio-dev 2>/dev/null), $(go version | awk '{print $3}'), $(wrk -v 2>&1 | awk 'NR==1{print $1,$2}')" | tee -a "$RAW"
for rep in $(seq 1 "$REPS"); do
  for mode in $MODES; do
    wl_list=$WORKLOADS; [ "$mode" = unpinned ] && wl_list=$UNPINNED_WORKLOADS
    for s in "${SERVERS[@]}"; do
      wait_quiet
      start_server "$s" "$mode" || { stop_server; continue; }
      # warm-up (page cache, lazy init, allocator)
      wrk -t1 -c100 -d2s "http://127.0.0.1:$(port_of "$s")/" >/dev/null 2>&1
      for w in $wl_list; do
        case " $WORKLOADS " in *" $w "*) ;; *) continue;; esac
        applies "$s" "$w" || continue
        r=$(run_load "$s" "$mode" "$w")
        echo "$s $mode $w rep$rep $r" | tee -a "$RAW" >&2
        sleep 1
      done
      stop_server
    done
  done
done

# ---------------------------------------------------------------- medians
MED=results/medians-$STAMP.txt
awk '!/^#/{k=$1" "$2" "$3; if(!(k in n)) order[++m]=k; n[k]++;
       for(f=5;f<=14;f++) v[k,f]=v[k,f]" "$f
       pc=($9>0)?$5*100/$9:0; v[k,15]=v[k,15]" "pc}
     function med(s,  a,c,i,j,t){c=split(substr(s,2),a," "); if(a[1]=="-") return "-";
       for(i=1;i<=c;i++)for(j=i+1;j<=c;j++)if(a[j]+0<a[i]+0){t=a[i];a[i]=a[j];a[j]=t}
       return (c%2)?a[(c+1)/2]:(a[c/2]+a[c/2+1])/2}
     END{for(i=1;i<=m;i++){k=order[i];
       printf "%s rps=%.0f p50_us=%s p99_us=%s p999_us=%s srv_cpu%%=%s client_cpu%%=%s other_cpu%%=%s srv_pss_mib=%s errors=%s gib_s=%s rps_per_core=%.0f runs=%d\n",
         k, med(v[k,5]), med(v[k,6]), med(v[k,7]), med(v[k,8]), med(v[k,9]), med(v[k,10]), med(v[k,11]), med(v[k,12]), med(v[k,13]), med(v[k,14]), med(v[k,15]), n[k]}}' "$RAW" \
  | sort -k2,2r -k3,3 -k1,1 | tee "$MED"
echo "# raw: $RAW  medians: $MED" >&2

# ---------------------------------------------------------------- the issue's table
get() { awk -v s="$1" -v w="$2" '$1==s && $2=="pinned" && $3==w {for(i=4;i<=NF;i++){split($i,a,"="); if(a[1]==k) print a[2]}}' k="$3" "$MED"; }
echo
echo "| workload | weft | nginx | h2o | hyper | go | c-epoll floor |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row() { # label workload key
  printf "| %s |" "$1"
  for s in weft nginx h2o hyper go cepoll; do printf " %s |" "$(get $s $2 $3)"; done; echo
}
row "plain_c100 req/s" plain_c100 rps
row "plain_c100 req/s per server core" plain_c100 rps_per_core
row "plain_c1000 req/s" plain_c1000 rps
row "pipe16 req/s" pipe16 rps
row "static_4k req/s" static_4k rps
row "static_1m GiB/s" static_1m gib_s
row "PSS at c1000 (MiB)" plain_c1000 srv_pss_mib
