#!/usr/bin/env bash
# bench/profile.sh: instruction counts of GET /sessions/{id} (or, with
# `cursor`, of the benchmark's cursor reads, or with `ingest`, of its
# text-log POSTs) under valgrind's callgrind
# (exact and repeatable, unlike timings on a busy machine). Builds the
# release profile with symbols (strip off, line tables) into
# target/profile, starts the server under callgrind with instrumentation
# off, sends warm-up requests, then collects over REQUESTS requests on
# one keep-alive connection (each one a full turn of the loop: poll, read,
# parse, route, render, write) and prints the top functions by
# self instructions, and instructions per request.
#
#   bench/profile.sh            GET /sessions/{id} (REQUESTS=10000 by default)
#   bench/profile.sh cursor     GET /sessions/{id}/log?cursor=C&limit=1000, C
#                               over 0, 1000, ..., 9000 of a full ring of
#                               10,000 80-byte lines, as bench/cursor.lua
#                               (REQUESTS=1000 by default)
#   bench/profile.sh ingest     POST /sessions/{id}/log, the 4096-byte text
#                               body of 50 lines of bench/ingest.lua, rotating
#                               over 64 sessions whose rings are full
#                               (REQUESTS=2000 by default)
#
# Bounded: every step has a timeout; the server is stopped by its PID.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCENARIO=${1:-get}
case $SCENARIO in
    get) REQUESTS=${REQUESTS:-10000} ;;
    cursor) REQUESTS=${REQUESTS:-1000} ;;
    ingest) REQUESTS=${REQUESTS:-2000} ;;
    *) echo "usage: bench/profile.sh [get|cursor|ingest]" >&2; exit 2 ;;
esac
TARGET_DIR=${BENCH_PROFILE_TARGET_DIR:-$ROOT/target/profile}
OUT=$ROOT/target/bench/profile
ID=0000000000000a1100000000
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.out.*

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        timeout 300 apt-get update -qq
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq valgrind >/dev/null
    else
        echo "profile: valgrind is missing (apt-get install valgrind)" >&2
        exit 1
    fi
fi

echo "== release build with symbols into $TARGET_DIR" >&2
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    CARGO_TARGET_DIR=$TARGET_DIR timeout 900 cargo build --release --quiet
BIN=$TARGET_DIR/release/sessions-lite

SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null
    sleep 0.5
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
    return 0
}
trap cleanup EXIT

taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$BIN" --listen 127.0.0.1:0 >"$OUT/server.out" 2>"$OUT/valgrind.err" &
SERVER_PID=$!
deadline=$((SECONDS + 60))
until grep -q '^listening on http://' "$OUT/server.out"; do
    ((SECONDS < deadline)) || { echo "profile: the server did not start" >&2; cat "$OUT/valgrind.err" >&2; exit 1; }
    sleep 0.2
done
ADDR=$(sed -n 's|^listening on http://||p' "$OUT/server.out")

SESSIONS=1
[ "$SCENARIO" = ingest ] && SESSIONS=64
python3 "$ROOT/bench/populate.py" sessions "$ADDR" "${ID:0:16}" "$SESSIONS"
if [ "$SCENARIO" = cursor ]; then
    python3 "$ROOT/bench/populate.py" fill "$ADDR" "$ID" 10000 80
elif [ "$SCENARIO" = ingest ]; then
    # Full rings, as after the first 0.2 s of a wrk run: each line measured
    # evicts the oldest.
    python3 "$ROOT/bench/populate.py" fill-many "$ADDR" "${ID:0:16}" 64 10000 81
fi

# get_loop COUNT: COUNT sequential requests on one keep-alive connection
# (the cursor reads rotate over ten pages, as bench/cursor.lua does; the
# ingest POSTs over 64 sessions with bench/ingest.lua's body).
get_loop() {
    timeout 300 taskset -c 1 python3 - "$ADDR" "/sessions/$ID" "$1" "$SCENARIO" <<'EOF'
import http.client, sys
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=30)
# bench/ingest.lua's body: 46 lines of 81 bytes and 4 of 80, each plus "\n".
lines = []
for i in range(1, 51):
    text = "[%2d/50] Compiling Module.Engine.%d.cpp (Development, Win64) " % (i, i)
    lines.append((text + "x" * 81)[:81 if i <= 46 else 80])
body = ("\n".join(lines) + "\n").encode()
assert len(body) == 4096, len(body)
prefix = sys.argv[2][len("/sessions/"):][:16]
for index in range(int(sys.argv[3])):
    path = sys.argv[2]
    if sys.argv[4] == "ingest":
        conn.request("POST", "/sessions/%s%08x/log" % (prefix, index % 64), body=body,
                     headers={"Content-Type": "text/plain"})
    else:
        if sys.argv[4] == "cursor":
            path += "/log?cursor=%d&limit=1000" % (index % 10 * 1000)
        conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
EOF
}

get_loop $((REQUESTS / 10))
timeout 30 callgrind_control -i on "$SERVER_PID" >/dev/null
get_loop "$REQUESTS"
timeout 30 callgrind_control -i off "$SERVER_PID" >/dev/null
timeout 30 callgrind_control -d "$SERVER_PID" >/dev/null
# The dump asked for above is part 1; the server's exit writes an empty part 2.
FILE=$OUT/callgrind.out.$SERVER_PID.1
deadline=$((SECONDS + 30))
until [ -s "$FILE" ]; do
    ((SECONDS < deadline)) || { echo "profile: no dump in $FILE" >&2; exit 1; }
    sleep 0.2
done
sleep 0.5
callgrind_annotate --auto=no --inclusive=no --threshold=100 "$FILE" >"$OUT/self.txt" 2>/dev/null
callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$FILE" >"$OUT/inclusive.txt" 2>/dev/null
python3 "$ROOT/bench/hotspots.py" "$OUT/self.txt" "$OUT/inclusive.txt" "$REQUESTS" "$SCENARIO" | tee "$OUT/hotspots.txt"
echo
echo "(callgrind data: $FILE; callgrind_annotate it for more)"
