#!/usr/bin/env bash
# tests/http/curl_features.sh BIN REPO SCRATCH - weft-httpd's features seen by a real client
# (curl): files, HEAD, MIME, ETag/Last-Modified with 304, ranges, directories and listings,
# keep-alive reuse, HTTP/1.0, the plaintext and metrics routes, Expect: 100-continue, bad flags.
# The backend comes from WEFT_IO_BACKEND (set by CTest). Exit 77 (skip) without curl.
set -u
BIN=$1; SCRATCH=$3
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH/root/dir" "$SCRATCH/root/list"
cd "$SCRATCH"
printf 'Hello, files!\n' > root/hello.txt
printf '<h1>dir</h1>\n' > root/dir/index.html
printf 'body{}\n' > root/style.css
printf 'x' > 'root/list/a&b <c>.txt'
head -c 100000 /dev/urandom > root/big.bin
fails=0
check() { # name, condition result (0 = ok)
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi
}

"$BIN" --listen 127.0.0.1:0 --root root --plaintext /plain --metrics /metrics --autoindex \
  --access-log access.log 2> server.err &
PID=$!
trap 'kill -9 $PID 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q 'http://127.0.0.1:' server.err 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' server.err | head -1)
[ -n "$PORT" ] || { echo "server did not start"; cat server.err; exit 1; }
U=http://127.0.0.1:$PORT
C="curl -s --max-time 5"

[ "$($C $U/hello.txt)" = "Hello, files!" ]; check "GET a file" $?
$C -D h.txt -o /dev/null $U/hello.txt
grep -qi '^content-type: text/plain; charset=utf-8' h.txt; check "text MIME type" $?
grep -qi '^date: ' h.txt && grep -qi '^server: weft-httpd' h.txt; check "Date and Server headers" $?
$C -D h2.txt -o /dev/null $U/style.css; grep -qi '^content-type: text/css' h2.txt; check "css MIME type" $?
ETAG=$(sed -n 's/^[Ee][Tt]ag: \(.*\)\r$/\1/p' h.txt)
LM=$(sed -n 's/^[Ll]ast-[Mm]odified: \(.*\)\r$/\1/p' h.txt)
[ "$($C -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" $U/hello.txt)" = 304 ]; check "304 on If-None-Match" $?
[ "$($C -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $LM" $U/hello.txt)" = 304 ]; check "304 on If-Modified-Since" $?
[ "$($C -o /dev/null -w '%{http_code}' -z "$SCRATCH/root/hello.txt" $U/hello.txt)" = 304 ]; check "curl -z (time condition)" $?
[ "$($C -I -o /dev/null -w '%{http_code} %{size_download}' $U/hello.txt)" = "200 0" ]; check "HEAD has no body" $?
[ "$($C -r 0-4 $U/hello.txt)" = "Hello" ]; check "byte range" $?
[ "$($C -o /dev/null -w '%{http_code}' -r 200000- $U/big.bin)" = 416 ]; check "416 past the end" $?
$C -r 1000-1999 $U/big.bin > part.bin; cmp -s part.bin <(tail -c +1001 root/big.bin | head -c 1000); check "range of a large file (sendfile)" $?
$C $U/big.bin > all.bin; cmp -s all.bin root/big.bin; check "large file intact" $?
[ "$($C -o /dev/null -w '%{http_code} %{redirect_url}' $U/dir)" = "301 $U/dir/" ]; check "directory redirect" $?
[ "$($C -L $U/dir)" = "<h1>dir</h1>" ]; check "index.html" $?
$C $U/list/ | grep -q 'a&amp;b &lt;c&gt;.txt'; check "autoindex, HTML-escaped" $?
[ "$($C -o /dev/null -w '%{http_code}' --path-as-is $U/../../etc/passwd)" = 400 ]; check "no .. escape" $?
[ "$($C -o /dev/null -w '%{http_code}' --path-as-is $U/%2e%2e/%2e%2e/etc/passwd)" = 400 ]; check "no encoded .. escape" $?
[ "$($C -o /dev/null -w '%{http_code}' $U/nope)" = 404 ]; check "404" $?
[ "$($C -o /dev/null -w '%{http_code}' -X DELETE $U/hello.txt)" = 405 ]; check "405 for DELETE" $?
[ "$($C $U/plain)" = "Hello, World!" ]; check "plaintext route" $?
$C $U/metrics | grep -q '^httpd_requests_total{code="2xx"}'; check "metrics route" $?
$C $U/metrics | grep -q '^weft_'; check "runtime metrics exported" $?
# keep-alive: two URLs on one connection
curl -sv --max-time 5 $U/hello.txt $U/plain 2>&1 | grep -q 'Re-using existing connection'; check "keep-alive reuse" $?
[ "$(curl -s -0 --max-time 5 $U/plain)" = "Hello, World!" ]; check "HTTP/1.0" $?
# a 500 kB upload with Expect: 100-continue to a route that does not take bodies: answered
# at once (no 1 s expect wait) with 405, and the connection closed
T0=$(date +%s%N)
code=$(head -c 500000 /dev/zero | $C -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' --data-binary @- $U/plain)
T1=$(date +%s%N)
[ "$code" = 405 ] && [ $(( (T1-T0)/1000000 )) -lt 900 ]; check "Expect: 100-continue answered early" $?
[ "$($C -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'Content-Length: 3' -d abc $U/plain)" = 400 ]; check "CL+TE rejected" $?

kill -TERM $PID; wait $PID; rc=$?
[ $rc -eq 0 ]; check "SIGTERM exits 0" $?
grep -q '"GET /hello.txt HTTP/1.1" 200 14' access.log; check "access log" $?
"$BIN" --bogus >/dev/null 2>&1; [ $? -eq 2 ]; check "bad flag exits 2" $?
"$BIN" --workers 0 >/dev/null 2>&1; [ $? -eq 2 ]; check "bad value exits 2" $?
"$BIN" --backend kqueue >/dev/null 2>&1; [ $? -eq 2 ]; check "bad backend exits 2" $?
"$BIN" --help | grep -q -- '--plaintext PATH'; check "--help" $?
"$BIN" --version | grep -q 'weft-httpd'; check "--version" $?
trap - EXIT
[ $fails -eq 0 ] && rm -rf "$SCRATCH"
echo "$fails failure(s)"
[ $fails -eq 0 ]
