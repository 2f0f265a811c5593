#!/usr/bin/env bash
# bench/run.sh: the sessions-lite benchmark (`make bench`), loopback only.
#
#   bench/run.sh [--build-time] [--profile] [--export-only] [--metrics-only] [--sse-only]
#                [--ws-changes-only] [--gzip-ingest-only] [--http-only]
#
# Builds the release binary (cargo build --release) and the WebSocket load
# generator (bench/ws_load.rs), then, with every server pinned to core 0
# and every load generator to core 1, measures:
#   1. GET /sessions/{id}, 64 keep-alive connections, and 16 pipelined
#   2. POST /sessions/{id}/log, 4 KiB text bodies of 50 lines, 64 sessions
#   3. cursor reads of 1,000 entries from a full 10,000-entry ring
#   4. 1,000 WebSocket clients at --ws-interval-ms 100 with 1,000 sessions;
#      then 1,000 subscribers to list changes (no extensions), with 10
#      session updates per second and with none (--ws-changes-only: just
#      these, after the build)
#   5. nginx (worker_processes 1) serving the same bytes, as the reference
#   6. OTLP export: the ingest load on fresh servers with export off and
#      on (--otlp-endpoint to an nginx sink on the load core), alternating
#      BENCH_EXPORT_ROUNDS times; the exporter's CPU per 1 M entries; idle
#      RSS after a burst, export off and on (--export-only: just these,
#      after the build)
#   7. `sessions-lite run -- sh -c 'yes | head -n 5000000'` against the bare
#      command: end-to-end lines per second into the log, the wrapper's CPU
#      per 1 M lines, and that every line arrived
#   8. 1,000 SSE followers of 10 busy sessions (bench/sse_followers.py):
#      entries delivered per server CPU-second, and RSS (--sse-only: just
#      this, after the build)
#   9. GET /metrics on a server holding 1,000 sessions: the server's CPU
#      per answer and the answer's size (--metrics-only: just this, after
#      the build)
#  10. gzip text ingest: the POST of 2. with its body gzipped once before
#      the run (Content-Encoding: gzip), beside the plain one; lines per
#      server CPU-second (--gzip-ingest-only: just the two ingest runs on
#      a fresh server, after the build)
# and RSS (idle, under load, 64 full rings, 10,000 idle connections,
# 1,000 WebSocket clients), the binary size, and with --build-time (or
# BENCH_BUILD_TIME=1) a clean release build on 2 cores. Prints the tables;
# they are also written to target/bench/results.md.
#
# Bounded: every wrk has -d, every wait a timeout; the whole run takes
# about 3 minutes after the build. It starts its own servers on port 0
# (nginx on a free port in 20000-30000) and stops them by PID on exit.
# Installs wrk and nginx-light with apt-get when missing (needs root).
#
# Environment: BENCH_SECS (10) per wrk run, BENCH_GET_ROUNDS (3) GET runs
# per server, BENCH_BUILD_TIME=1,
# BENCH_PROFILE=1 (runs bench/profile.sh at the end), BENCH_EXPORT_ROUNDS
# (2) alternating export off/on ingest runs.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

DURATION_S=${BENCH_SECS:-10}
GET_ROUNDS=${BENCH_GET_ROUNDS:-3}    # GET runs per server, alternating
BUILD_TIME=${BENCH_BUILD_TIME:-0}
PROFILE=${BENCH_PROFILE:-0}
EXPORT_ROUNDS=${BENCH_EXPORT_ROUNDS:-2}
EXPORT_ONLY=0
METRICS_ONLY=0
SSE_ONLY=0
WS_CHANGES_ONLY=0
GZIP_INGEST_ONLY=0
HTTP_ONLY=0
for arg in "$@"; do
    case $arg in
        --build-time) BUILD_TIME=1 ;;
        --profile) PROFILE=1 ;;
        --export-only) EXPORT_ONLY=1 ;;
        --metrics-only) METRICS_ONLY=1 ;;
        --sse-only) SSE_ONLY=1 ;;
        --ws-changes-only) WS_CHANGES_ONLY=1 ;;
        --gzip-ingest-only) GZIP_INGEST_ONLY=1 ;;
        --http-only) HTTP_ONLY=1 ;;
        *) echo "usage: bench/run.sh [--build-time] [--profile] [--export-only] [--metrics-only] [--sse-only] [--ws-changes-only] [--gzip-ingest-only] [--http-only]" >&2; exit 2 ;;
    esac
done

SERVER_CORE=0
CLIENT_CORE=1
WRK_CONNECTIONS=64
INGEST_SESSIONS=64
RING_ENTRIES=10000
RING_LINE_BYTES=80
IDLE_CONNECTIONS=10000
WS_CLIENTS=1000
WS_SESSIONS=1000
WS_INTERVAL_MS=100
WS_WINDOW_S=10
WS_UPDATES_PER_S=10               # session updates during the changes run
GET_PREFIX=0000000000000a11      # GET session: $GET_PREFIX + 00000000
INGEST_PREFIX=00000000000001c0   # ingest sessions: + 00000000 .. 0000003f
CURSOR_PREFIX=00000000000c0c0c   # the full ring for cursor reads
RINGS_PREFIX=0000000000000f11    # 64 full rings (memory)
WS_PREFIX=0000000000000ed0       # the WebSocket run's sessions
EXPORT_BATCH_ENTRIES=${BENCH_EXPORT_BATCH_ENTRIES:-1000}  # --otlp-batch-entries (1,000: the default)
EXPORT_DRAIN_S=30                # the most to wait for the exporter to catch up
EXPORT_IDLE_PREFIX=00000000000e1d1e
EXPORT_BURST_LINES=2000          # idle RSS: lines exported before idling
METRICS_SESSIONS=1000
METRICS_PREFIX=00000000000e7e75  # the /metrics run's sessions
CLK_TCK=$(getconf CLK_TCK)

OUT=$ROOT/target/bench
# Where cargo puts the release binary (CARGO_TARGET_DIR when it is set).
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sessions-lite
rm -rf "$OUT"
mkdir -p "$OUT"
RESULTS=$OUT/results.env
: >"$RESULTS"

# ---------------------------------------------------------------- helpers

STARTED_PIDS=()

# Receive packet steering of lo (see websocket_changes), and what it was.
LO_RPS=/sys/class/net/lo/queues/rx-0/rps_cpus
LO_RPS_SAVED=

cleanup() {
    local pid
    if [ -n "$LO_RPS_SAVED" ]; then
        echo "$LO_RPS_SAVED" >"$LO_RPS" 2>/dev/null || true
    fi
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*" >&2; }
result() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }

# stop PID: TERM, then KILL after 5 s; forget it.
stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local kept=()
    for other in "${STARTED_PIDS[@]}"; do
        [ "$other" = "$pid" ] || kept+=("$other")
    done
    STARTED_PIDS=("${kept[@]+"${kept[@]}"}")
}

# cpu_seconds PID...: utime + stime, summed, in seconds.
cpu_seconds() {
    local pid
    for pid in "$@"; do
        # After the ")" that ends the command name, utime and stime are the
        # 12th and 13th fields (fields 14 and 15 in proc(5)).
        sed 's/.*) //' "/proc/$pid/stat"
    done | awk -v hz="$CLK_TCK" '{ ticks += $12 + $13 } END { printf "%.2f", ticks / hz }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# rollup_kib PID FIELD: one line of /proc/PID/smaps_rollup (Pss: the
# process's share of its pages; Private_Dirty: the pages only it has written).
rollup_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/smaps_rollup"; }

# wait_for FILE PATTERN SECONDS: until a line of FILE matches, or fail.
wait_for() {
    local file=$1 pattern=$2 deadline=$((SECONDS + $3))
    until grep -q "$pattern" "$file" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "bench: timed out waiting for '$pattern' in $file" >&2
            cat "$file" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

# start_server NAME ARGS...: sessions-lite on core 0, port 0. Sets
# SERVER_PID and SERVER_ADDR.
start_server() {
    local name=$1
    shift
    taskset -c "$SERVER_CORE" "$BIN" \
        --listen 127.0.0.1:0 "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    wait_for "$OUT/$name.out" '^listening on http://' 10
    SERVER_ADDR=$(sed -n 's|^listening on http://||p' "$OUT/$name.out" | head -n 1)
}

on_client_core() { taskset -c "$CLIENT_CORE" "$@"; }

# run_wrk SCENARIO SERVER PIDS URL [SCRIPT [SCRIPT_ARGS...]]: one wrk
# run, with the server's CPU seconds over it (PIDS: space-separated).
run_wrk() {
    local scenario=$1 server=$2 pids=$3 url=$4
    shift 4
    local script=()
    if (($#)); then
        script=(-s "$1" "$url" --)
        shift
    else
        script=("$url")
    fi
    local before after
    # shellcheck disable=SC2086
    before=$(cpu_seconds $pids)
    on_client_core timeout $((DURATION_S + 30)) wrk -t1 -c"$WRK_CONNECTIONS" \
        -d"${DURATION_S}s" --timeout 5s --latency "${script[@]}" "$@" \
        >"$OUT/wrk-$scenario-$server.txt" 2>&1 || true
    # shellcheck disable=SC2086
    after=$(cpu_seconds $pids)
    result "cpu_${scenario}_$server" "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')"
    printf '%-8s %-6s %s\n' "$scenario" "$server" \
        "$(grep -E 'Requests/sec|Non-2xx|Socket errors' "$OUT/wrk-$scenario-$server.txt" | tr -s ' ' | paste -sd ';')" >&2
}

# peak_rss_kib PID: the most resident memory the process has had (VmHWM).
# Read after a run instead of sampling VmRSS during it: a sampling loop
# (an awk and a sleep forked five times a second) preempts the server or
# wrk and about doubled the p99 of whichever server it ran beside.
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

free_port() {
    python3 - <<'EOF'
import random, socket
for _ in range(200):
    port = random.randint(20000, 30000)
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
EOF
}

# ---------------------------------------------------------------- setup

install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    command -v taskset >/dev/null || missing+=(util-linux)
    command -v python3 >/dev/null || missing+=(python3)
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        if [ "$(id -u)" != 0 ]; then
            echo "bench: need ${missing[*]} (apt-get install as root)" >&2
            exit 1
        fi
        timeout 300 apt-get update -qq
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

record_machine() {
    result date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    result nproc "$(nproc)"
    result cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    result kernel "$(uname -r)"
    result loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
    result duration_s "$DURATION_S"
    local commit
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- src 2>/dev/null || commit="$commit + uncommitted changes in src/"
    result commit "$commit"
}

build() {
    say "cargo build --release"
    timeout 900 cargo build --release
    result binary_bytes "$(stat -c %s "$BIN")"
    # A just-linked binary's pages are dirty in the page cache until written
    # back, and smaps counts them as the server's private dirty memory.
    sync "$BIN"
    WS_LOAD=$(timeout 900 cargo build --release --bench ws_load --message-format=json \
        | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "ws_load" and m.get("executable"):
        print(m["executable"])')
    [ -x "$WS_LOAD" ] || { echo "bench: could not build bench/ws_load.rs" >&2; exit 1; }
}

# A clean release build on 2 cores, in a fresh target directory (the same
# as after `cargo clean`, without deleting the target/ others are using).
build_time() {
    say "clean release build, 2 cores"
    local dir start end
    dir=$(mktemp -d /tmp/sessions-lite-build.XXXXXX)
    start=$(date +%s.%N)
    CARGO_TARGET_DIR=$dir timeout 900 taskset -c 0,1 cargo build --release -j2 --quiet
    end=$(date +%s.%N)
    rm -rf "$dir"
    result build_time_s "$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%.1f", a - b }')"
}

ulimit -n 20000 2>/dev/null || true

# ---------------------------------------------------------------- scenarios

start_nginx() {
    local dir=$OUT/nginx port
    mkdir -p "$dir/tmp"
    port=$(free_port)
    NGINX_URL=http://127.0.0.1:$port
    # The same bytes sessions-lite answers; return needs ' $ \ escaped away.
    if grep -q "['\$\\\\]" "$dir/session.json"; then
        echo "bench: the session JSON has a character nginx's return cannot hold" >&2
        exit 1
    fi
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:$port;
        location = /sessions/${GET_PREFIX}00000000 { return 200 '$(cat "$dir/session.json")'; }
        location = /sessions/${CURSOR_PREFIX}00000000/log { alias $dir/page.json; }
        location /sessions/ { return 200 '{"appended":50,"cursor":10000}'; }
    }
}
EOF
    taskset -c "$SERVER_CORE" "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" &
    NGINX_PID=$!
    STARTED_PIDS+=("$NGINX_PID")
    local deadline=$((SECONDS + 10))
    until curl -sf -o /dev/null "$NGINX_URL/sessions/${GET_PREFIX}00000000"; do
        ((SECONDS < deadline)) || { echo "bench: nginx did not start" >&2; cat "$dir/error.log" >&2; exit 1; }
        sleep 0.1
    done
    # master + its workers (children of the master)
    NGINX_PIDS="$NGINX_PID $(awk -v m="$NGINX_PID" '$4 == m { print $1 }' /proc/[0-9]*/stat 2>/dev/null | paste -sd ' ')"
}

http_scenarios() {
    say "HTTP: sessions-lite and nginx, ${DURATION_S}s per run"
    start_server http
    local pid=$SERVER_PID url=http://$SERVER_ADDR
    # Idle means past the first timer ticks (one a second): the code they
    # run is resident too, not only what start-up left mapped.
    sleep 2.5
    result rss_idle_kib "$(rss_kib "$pid")"
    result rss_idle_pss_kib "$(rollup_kib "$pid" Pss)"
    result rss_idle_private_kib "$(rollup_kib "$pid" Private_Dirty)"

    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$GET_PREFIX" 1
    local get_path=/sessions/${GET_PREFIX}00000000
    mkdir -p "$OUT/nginx"
    curl -sf "$url$get_path" >"$OUT/nginx/session.json"

    run_wrk get sl "$pid" "$url$get_path"
    result rss_load_kib "$(peak_rss_kib "$pid")"
    sleep 1
    result rss_after_kib "$(rss_kib "$pid")"

    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$CURSOR_PREFIX" 1
    on_client_core python3 "$BENCH/populate.py" fill "$SERVER_ADDR" "${CURSOR_PREFIX}00000000" \
        "$RING_ENTRIES" "$RING_LINE_BYTES"
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$INGEST_PREFIX" "$INGEST_SESSIONS"
    local cursor_path=/sessions/${CURSOR_PREFIX}00000000/log
    curl -sf "$url$cursor_path?cursor=5000" >"$OUT/nginx/page.json"

    start_nginx
    run_wrk get nginx "$NGINX_PIDS" "$NGINX_URL$get_path"
    run_wrk pipe sl "$pid" "$url$get_path" "$BENCH/pipeline.lua"
    run_wrk pipe nginx "$NGINX_PIDS" "$NGINX_URL$get_path" "$BENCH/pipeline.lua"
    run_wrk cursor sl "$pid" "$url$cursor_path" "$BENCH/cursor.lua" "${CURSOR_PREFIX}00000000"
    run_wrk cursor nginx "$NGINX_PIDS" "$NGINX_URL$cursor_path" "$BENCH/cursor.lua" "${CURSOR_PREFIX}00000000"
    run_wrk ingest sl "$pid" "$url/" "$BENCH/ingest.lua" "$INGEST_PREFIX" "$INGEST_SESSIONS"
    run_wrk ingest nginx "$NGINX_PIDS" "$NGINX_URL/" "$BENCH/ingest.lua" "$INGEST_PREFIX" "$INGEST_SESSIONS"
    gzip_ingest_body
    run_wrk ingest_gzip sl "$pid" "$url/" "$BENCH/ingest.lua" "$INGEST_PREFIX" "$INGEST_SESSIONS" \
        "$OUT/ingest-body.gz"
    # More GET rounds, each server in turn: one 10 s run moves by about
    # ±5% between identical runs here, so the GET target is judged on the
    # median ratio of all rounds (report.py); every round is printed.
    local round
    for round in $(seq 2 "$GET_ROUNDS"); do
        run_wrk "get_r$round" sl "$pid" "$url$get_path"
        run_wrk "get_r$round" nginx "$NGINX_PIDS" "$NGINX_URL$get_path"
    done
    # Every ingest session must have taken lines (a 200 that appended nothing
    # would look fast).
    curl -sf "$url/sessions/${INGEST_PREFIX}0000003f" >"$OUT/ingest-last-session.json"
    grep -q '"count":[1-9]' "$OUT/ingest-last-session.json" \
        || echo "bench: warning: the last ingest session holds no entries" >&2
    result rss_end_kib "$(rss_kib "$pid")"
    stop "$NGINX_PID"
    stop "$pid"
}

# gzip_ingest_body: bench/ingest.lua's body gzipped once (level 6, as
# `gzip` does), to $OUT/ingest-body.gz. The text is built as ingest.lua
# builds it; ingest.lua checks the size in the gzip trailer.
gzip_ingest_body() {
    python3 - "$OUT/ingest-body.gz" <<'EOF'
import gzip, sys
lines = []
for i in range(1, 51):
    size = 81 if i <= 46 else 80
    text = "[%2d/50] Compiling Module.Engine.%d.cpp (Development, Win64) " % (i, i)
    lines.append((text + "x" * size)[:size])
body = ("\n".join(lines) + "\n").encode()
assert len(body) == 4096, len(body)
with open(sys.argv[1], "wb") as out:
    out.write(gzip.compress(body, compresslevel=6, mtime=0))
EOF
    result ingest_gzip_body_bytes "$(stat -c %s "$OUT/ingest-body.gz")"
}

# gzip_ingest_scenarios: only the plain and the gzip ingest runs, on a
# fresh server (--gzip-ingest-only).
gzip_ingest_scenarios() {
    say "ingest: plain and gzip text bodies, ${DURATION_S}s per run"
    start_server ingest
    local pid=$SERVER_PID url=http://$SERVER_ADDR
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$INGEST_PREFIX" "$INGEST_SESSIONS"
    gzip_ingest_body
    run_wrk ingest sl "$pid" "$url/" "$BENCH/ingest.lua" "$INGEST_PREFIX" "$INGEST_SESSIONS"
    run_wrk ingest_gzip sl "$pid" "$url/" "$BENCH/ingest.lua" "$INGEST_PREFIX" "$INGEST_SESSIONS" \
        "$OUT/ingest-body.gz"
    curl -sf "$url/sessions/${INGEST_PREFIX}0000003f" >"$OUT/ingest-last-session.json"
    grep -q '"count":[1-9]' "$OUT/ingest-last-session.json" \
        || echo "bench: warning: the last ingest session holds no entries" >&2
    stop "$pid"
}

rings_memory() {
    say "memory: $INGEST_SESSIONS full rings of $RING_ENTRIES x $RING_LINE_BYTES-byte lines"
    start_server rings
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$RINGS_PREFIX" "$INGEST_SESSIONS"
    sleep 0.5
    result rings_rss_before_kib "$(rss_kib "$SERVER_PID")"
    timeout 300 taskset -c "$CLIENT_CORE" python3 "$BENCH/populate.py" fill-many "$SERVER_ADDR" \
        "$RINGS_PREFIX" "$INGEST_SESSIONS" "$RING_ENTRIES" "$RING_LINE_BYTES"
    sleep 0.5
    result rings_rss_after_kib "$(rss_kib "$SERVER_PID")"
    result rings_line_bytes $((INGEST_SESSIONS * RING_ENTRIES * RING_LINE_BYTES))
    stop "$SERVER_PID"
}

idle_connections() {
    say "memory: $IDLE_CONNECTIONS idle connections"
    start_server idle
    sleep 0.5
    result idle_count "$IDLE_CONNECTIONS"
    result idle_rss_before_kib "$(rss_kib "$SERVER_PID")"
    taskset -c "$CLIENT_CORE" python3 "$BENCH/idle_conns.py" "$SERVER_ADDR" "$IDLE_CONNECTIONS" 200 \
        >"$OUT/idle.out" 2>&1 &
    local holder=$!
    STARTED_PIDS+=("$holder")
    if wait_for "$OUT/idle.out" '^connected' 150; then
        sleep 1
        result idle_rss_connected_kib "$(rss_kib "$SERVER_PID")"
    fi
    if wait_for "$OUT/idle.out" '^failed' 60; then
        sleep 1
        result idle_rss_answered_kib "$(rss_kib "$SERVER_PID")"
        result idle_answered "$(sed -n 's/^answered //p' "$OUT/idle.out")"
        result idle_failed "$(sed -n 's/^failed //p' "$OUT/idle.out")"
    fi
    stop "$holder"
    stop "$SERVER_PID"
}

# ws_load_window PREFIX SUMMARY ARGS...: WS_CLIENTS clients on the server
# for a WS_WINDOW_S window after a warm-up; results as PREFIX_*, and the
# lines matching SUMMARY on stderr.
ws_load_window() {
    local prefix=$1 summary=$2
    shift 2
    timeout $((WS_WINDOW_S + 60)) taskset -c "$CLIENT_CORE" "$WS_LOAD" --addr "$SERVER_ADDR" \
        --clients "$WS_CLIENTS" --warmup-secs 2 --secs "$WS_WINDOW_S" --connect-timeout-secs 30 \
        --expect-sessions "$WS_SESSIONS" --server-pid "$SERVER_PID" --clk-tck "$CLK_TCK" "$@" \
        >"$OUT/$prefix.out" 2>&1 || true
    sed "s/^/${prefix}_/" "$OUT/$prefix.out" | grep -E "^${prefix}_[a-z_0-9]+=" >>"$RESULTS" || true
    grep -E "$summary" "$OUT/$prefix.out" >&2 || true
    sleep 1
}

websocket_clients() {
    say "WebSocket: $WS_CLIENTS clients, push every $WS_INTERVAL_MS ms, $WS_SESSIONS sessions"
    result ws_clients "$WS_CLIENTS"
    result ws_sessions "$WS_SESSIONS"
    result ws_interval_ms "$WS_INTERVAL_MS"
    start_server ws --ws-interval-ms "$WS_INTERVAL_MS"
    # One client first: is /sessions/ws there yet?
    timeout 30 taskset -c "$CLIENT_CORE" "$WS_LOAD" --addr "$SERVER_ADDR" --clients 1 \
        --warmup-secs 0 --secs 0.5 --connect-timeout-secs 5 >"$OUT/ws-probe.out" 2>&1 || true
    if ! grep -q '^open=1' "$OUT/ws-probe.out" || grep -q '^messages=0$' "$OUT/ws-probe.out"; then
        local why
        why=$(sed -n 's/^first_error=//p' "$OUT/ws-probe.out")
        result ws_skipped "/sessions/ws did not accept a client and push to it (${why:-no message within 0.5 s})"
        echo "bench: SKIPPING the WebSocket scenario: /sessions/ws does not work yet (${why:-no push})" >&2
        stop "$SERVER_PID"
        return
    fi
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$WS_PREFIX" "$WS_SESSIONS"
    sleep 0.5
    result ws_rss_before_kib "$(rss_kib "$SERVER_PID")"
    # Two runs on the same server: clients without extensions (every list
    # 364 KB), then clients that offer permessage-deflate as browsers do.
    # Results: ws_* and wsz_*.
    local prefix flags
    for prefix in ws wsz; do
        flags=()
        [ "$prefix" = wsz ] && flags=(--deflate)
        # The size of one session-list push, as a client sees it.
        timeout 30 taskset -c "$CLIENT_CORE" "$WS_LOAD" --addr "$SERVER_ADDR" --clients 1 \
            --warmup-secs 0.3 --secs 1 "${flags[@]}" >"$OUT/$prefix-one.out" 2>&1 || true
        result "${prefix}_push_bytes" "$(awk -F= '$1 == "bytes_per_s" { b = $2 } $1 == "messages_per_s" { m = $2 }
            END { if (m > 0) printf "%.0f", b / m; else print "n/a" }' "$OUT/$prefix-one.out")"
        ws_load_window "$prefix" 'messages_per_s|clients_at_rate|server_cpu_share|verified_messages|first_error' \
            --expect-per-sec $((1000 / WS_INTERVAL_MS)) "${flags[@]}"
    done
    stop "$SERVER_PID"
}

# websocket_changes: 1,000 clients without extensions subscribed to list
# changes, 1,000 sessions, a tick every WS_INTERVAL_MS: first with
# WS_UPDATES_PER_S session updates a second (results wsc_*: does every
# client get every change, and the server's CPU), then with nothing
# changing (wsq_*: the cost at rest).
websocket_changes() {
    say "WebSocket changes: $WS_CLIENTS subscribers, $WS_SESSIONS sessions, $WS_UPDATES_PER_S updates/s, then none"
    start_server wsc --ws-interval-ms "$WS_INTERVAL_MS"
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$WS_PREFIX" "$WS_SESSIONS"
    sleep 0.5
    local prefix rate
    for prefix in wsc wsq; do
        rate=$WS_UPDATES_PER_S
        [ "$prefix" = wsq ] && rate=0
        result "${prefix}_updates_per_s" "$rate"
        ws_load_window "$prefix" \
            'clients_every_change|changes_seq_gaps|changes_fresh_lists|updates_in_window|verified_upserts_min|server_cpu_share|first_error' \
            --subscribe --expect-per-sec "$rate" \
            --updates-per-sec "$rate" --update-prefix "$WS_PREFIX" --update-sessions "$WS_SESSIONS"
    done
    # For reference, the updates run again with receive packet steering on
    # lo (the receivers' TCP work on the client core). On loopback the
    # receiving side's protocol work runs in the sender's context, so it
    # is charged to the server: about 45% of the server's CPU in this run
    # (perf), work a client on another host does itself. Root only; the
    # setting is put back at once (and by cleanup on any exit).
    if [ -w "$LO_RPS" ]; then
        LO_RPS_SAVED=$(cat "$LO_RPS")
        printf '%x' $((1 << CLIENT_CORE)) >"$LO_RPS"
        result wsr_updates_per_s "$WS_UPDATES_PER_S"
        ws_load_window wsr 'clients_every_change|server_cpu_share' \
            --subscribe --expect-per-sec "$WS_UPDATES_PER_S" \
            --updates-per-sec "$WS_UPDATES_PER_S" --update-prefix "$WS_PREFIX" --update-sessions "$WS_SESSIONS"
        echo "$LO_RPS_SAVED" >"$LO_RPS"
        LO_RPS_SAVED=
    fi
    get_beside_pushes
    stop "$SERVER_PID"
}

# get_beside_pushes: GET /sessions/{id} (wrk, 64 connections) on the
# changes server while its 1,000 subscribers get a changes message every
# tick: a tick's writes to every subscriber (about 5 ms of them) are what a
# GET waits behind unless one loop turn's work is bounded
# (DEFERRED_VISITS_PER_TURN_MAX). Latency only: the server's CPU is
# shared with the pushes.
get_beside_pushes() {
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$GET_PREFIX" 1
    timeout $((DURATION_S + 60)) taskset -c "$CLIENT_CORE" "$WS_LOAD" --addr "$SERVER_ADDR" \
        --clients "$WS_CLIENTS" --warmup-secs 2 --secs $((DURATION_S + 6)) --connect-timeout-secs 30 \
        --expect-sessions $((WS_SESSIONS + 1)) --server-pid "$SERVER_PID" --clk-tck "$CLK_TCK" \
        --subscribe --expect-per-sec "$WS_UPDATES_PER_S" --updates-per-sec "$WS_UPDATES_PER_S" \
        --update-prefix "$WS_PREFIX" --update-sessions "$WS_SESSIONS" >"$OUT/wsg.out" 2>&1 &
    local load=$!
    STARTED_PIDS+=("$load")
    sleep 5
    run_wrk get_pushes sl "$SERVER_PID" "http://$SERVER_ADDR/sessions/${GET_PREFIX}00000000"
    wait "$load" || true
    sed 's/^/wsg_/' "$OUT/wsg.out" | grep -E '^wsg_[a-z_0-9]+=' >>"$RESULTS" || true
}

# ---------------------------------------------------------------- OTLP export

# start_sink: the bench's OTLP collector, an nginx on the load core that
# answers POST /v1/logs with 200 and an empty body (all the exporter
# needs) after reading the body, and logs each request's status and body
# size (unbuffered) for the counts. Sets SINK_URL, SINK_PID, SINK_LOG.
start_sink() {
    local dir=$OUT/sink port
    mkdir -p "$dir/tmp"
    port=$(free_port)
    SINK_URL=http://127.0.0.1:$port
    SINK_LOG=$dir/access.log
    : >"$SINK_LOG"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
    log_format sink '\$status \$content_length';
    access_log $SINK_LOG sink;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 8m;
    client_body_buffer_size 8m;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/x-protobuf;
    server {
        listen 127.0.0.1:$port;
        location = /v1/logs { return 200 ''; }
        location / { return 404; }
    }
}
EOF
    taskset -c "$CLIENT_CORE" "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" &
    SINK_PID=$!
    STARTED_PIDS+=("$SINK_PID")
    local deadline=$((SECONDS + 10))
    until curl -sf -o /dev/null -X POST --data-binary x "$SINK_URL/v1/logs"; do
        ((SECONDS < deadline)) || { echo "bench: the sink nginx did not start" >&2; cat "$dir/error.log" >&2; exit 1; }
        sleep 0.1
    done
    : >"$SINK_LOG"
}

# sink_counts FROM_LINE: "requests non_2xx body_bytes" logged after line FROM_LINE.
sink_counts() {
    tail -n +"$(($1 + 1))" "$SINK_LOG" | awk '
        { n++; if ($1 !~ /^2/) bad++; if ($2 ~ /^[0-9]+$/) bytes += $2 }
        END { printf "%d %d %.0f", n, bad, bytes }'
}

# export_ingest MODE ROUND: the ingest load (bench/ingest.lua, 64 sessions)
# on a fresh server, export off or on. For "on", the server's CPU is read
# once the exporter has caught up (bounded by EXPORT_DRAIN_S), so it holds
# all the export work of the run. Results: export_MODE_rROUND_*.
export_ingest() {
    local mode=$1 round=$2 key=export_$1_r$2 flags=()
    [ "$mode" = on ] && flags=(--otlp-endpoint "$SINK_URL" --otlp-batch-entries "$EXPORT_BATCH_ENTRIES")
    start_server "$key" "${flags[@]}"
    local pid=$SERVER_PID
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$INGEST_PREFIX" "$INGEST_SESSIONS"
    local drain_s=0
    [ "$mode" = on ] && drain_s=$EXPORT_DRAIN_S
    # Let the set-up's entries go out first: they are not part of the run.
    on_client_core python3 "$BENCH/export_drain.py" "$SERVER_ADDR" "$drain_s" >"$OUT/$key-before.env"
    local appended_before sink_from before after start end
    appended_before=$(sed -n 's/^appended=//p' "$OUT/$key-before.env")
    sink_from=$(wc -l <"$SINK_LOG")
    before=$(cpu_seconds "$pid")
    start=$(date +%s.%N)
    on_client_core timeout $((DURATION_S + 30)) wrk -t1 -c"$WRK_CONNECTIONS" \
        -d"${DURATION_S}s" --timeout 5s --latency -s "$BENCH/ingest.lua" "http://$SERVER_ADDR/" -- \
        "$INGEST_PREFIX" "$INGEST_SESSIONS" >"$OUT/wrk-$key.txt" 2>&1 || true
    [ "$mode" = off ] && after=$(cpu_seconds "$pid")
    on_client_core python3 "$BENCH/export_drain.py" "$SERVER_ADDR" "$drain_s" >"$OUT/$key.env"
    [ "$mode" = on ] && after=$(cpu_seconds "$pid")
    end=$(date +%s.%N)
    result "${key}_cpu" "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')"
    result "${key}_wall_s" "$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%.1f", a - b }')"
    result "${key}_lines" $(($(sed -n 's/^appended=//p' "$OUT/$key.env") - appended_before))
    result "${key}_appended_total" "$(sed -n 's/^appended=//p' "$OUT/$key.env")"
    result "${key}_non2xx" "$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$OUT/wrk-$key.txt" | head -n 1)"
    if [ "$mode" = on ]; then
        local field
        for field in sent dropped retried rejected state waited_s caught_up; do
            result "${key}_$field" "$(sed -n "s/^$field=//p" "$OUT/$key.env")"
        done
        result "${key}_sent_before" "$(sed -n 's/^sent=//p' "$OUT/$key-before.env")"
        local counts
        read -r -a counts <<<"$(sink_counts "$sink_from")"
        result "${key}_sink_requests" "${counts[0]}"
        result "${key}_sink_non2xx" "${counts[1]}"
        result "${key}_sink_bytes" "${counts[2]}"
    fi
    printf '%-12s %s; %s\n' "$key" "$(grep -E 'Requests/sec' "$OUT/wrk-$key.txt" | tr -s ' ')" \
        "$(grep "^$key" "$RESULTS" | sed "s/^${key}_//" | paste -sd ' ')" >&2
    stop "$pid"
}

# export_idle MODE: idle RSS of a fresh server, export off or on: 2.5 s
# after start, then after a burst of EXPORT_BURST_LINES lines (two full
# batches) has been exported and the server has idled 3 s.
export_idle() {
    local mode=$1 key=export_idle_$1 flags=()
    [ "$mode" = on ] && flags=(--otlp-endpoint "$SINK_URL" --otlp-batch-entries "$EXPORT_BATCH_ENTRIES")
    start_server "$key" "${flags[@]}"
    local pid=$SERVER_PID
    sleep 2.5
    result "${key}_fresh_kib" "$(rss_kib "$pid")"
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$EXPORT_IDLE_PREFIX" 1
    on_client_core python3 "$BENCH/populate.py" fill "$SERVER_ADDR" "${EXPORT_IDLE_PREFIX}00000000" \
        "$EXPORT_BURST_LINES" "$RING_LINE_BYTES"
    local drain_s=0
    [ "$mode" = on ] && drain_s=$EXPORT_DRAIN_S
    on_client_core python3 "$BENCH/export_drain.py" "$SERVER_ADDR" "$drain_s" >"$OUT/$key.env"
    sleep 3
    result "${key}_rss_kib" "$(rss_kib "$pid")"
    result "${key}_pss_kib" "$(rollup_kib "$pid" Pss)"
    result "${key}_private_kib" "$(rollup_kib "$pid" Private_Dirty)"
    result "${key}_appended" "$(sed -n 's/^appended=//p' "$OUT/$key.env")"
    [ "$mode" = on ] && result "${key}_sent" "$(sed -n 's/^sent=//p' "$OUT/$key.env")"
    stop "$pid"
}

export_scenarios() {
    say "OTLP export: ingest, export off and on (sink on core $CLIENT_CORE), $EXPORT_ROUNDS rounds of ${DURATION_S}s"
    result export_rounds "$EXPORT_ROUNDS"
    result export_batch_entries "$EXPORT_BATCH_ENTRIES"
    start_sink
    local round
    for round in $(seq 1 "$EXPORT_ROUNDS"); do
        export_ingest off "$round"
        export_ingest on "$round"
    done
    say "OTLP export: idle RSS after a burst of $EXPORT_BURST_LINES lines"
    export_idle off
    export_idle on
    stop "$SINK_PID"
}

# The build step's side (issue #13): `sessions-lite run` around a command
# that prints RUN_LINES lines as fast as it can, against the bare command.
# The ring holds at most LOG_CAPACITY_MAX (1 M) entries, so "every line
# arrived" is checked on the log's cursor (entries ever appended), not on
# its count. CPU from /usr/bin/time (the wrapper with its child) less the
# bare command's.
RUN_LINES=${BENCH_RUN_LINES:-5000000}
run_wrapper() {
    say "run wrapper: sessions-lite run -- sh -c 'yes | head -n $RUN_LINES'"
    start_server run --log-capacity 1000000
    local script="yes | head -n $RUN_LINES" cpu_before cpu_after id
    on_client_core /usr/bin/time -f '%e %U %S' -o "$OUT/run-bare.time" \
        sh -c "$script" >/dev/null
    cpu_before=$(cpu_seconds "$SERVER_PID")
    SESSIONS_LITE_SESSION_FILE=$OUT/run.id timeout 300 taskset -c "$CLIENT_CORE" \
        /usr/bin/time -f '%e %U %S' -o "$OUT/run-wrapped.time" \
        "$BIN" run --quiet --server "http://$SERVER_ADDR" --app bench -- sh -c "$script" \
        >/dev/null 2>"$OUT/run.err" || echo "bench: warning: run exited non-zero" >&2
    cpu_after=$(cpu_seconds "$SERVER_PID")
    id=$(cat "$OUT/run.id")
    curl -sf "http://$SERVER_ADDR/sessions/$id" >"$OUT/run-session.json"
    result run_lines "$RUN_LINES"
    result run_bare "$(cat "$OUT/run-bare.time")"
    result run_wrapped "$(cat "$OUT/run-wrapped.time")"
    result run_server_cpu_s "$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN { printf "%.2f", b - a }')"
    result run_log_cursor "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["log"]["cursor"])' "$OUT/run-session.json")"
    result run_end_reason "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end_reason"])' "$OUT/run-session.json")"
    stop "$SERVER_PID"
}

# The cost of one /metrics answer (issue #15): wrk's 64 connections ask
# for it for DURATION_S on a server holding METRICS_SESSIONS sessions (the
# answer must not grow with them); the server's CPU over the run per
# answer, and the answer's bytes.
metrics_answer() {
    say "metrics: GET /metrics with $METRICS_SESSIONS sessions, ${DURATION_S}s"
    start_server metrics
    on_client_core python3 "$BENCH/populate.py" sessions "$SERVER_ADDR" "$METRICS_PREFIX" "$METRICS_SESSIONS"
    curl -sf "http://$SERVER_ADDR/metrics" -o "$OUT/metrics.txt"
    result metrics_sessions "$METRICS_SESSIONS"
    result metrics_bytes "$(wc -c <"$OUT/metrics.txt")"
    run_wrk metrics sl "$SERVER_PID" "http://$SERVER_ADDR/metrics"
    stop "$SERVER_PID"
}

# ---------------------------------------------------------------- SSE

SSE_FOLLOWERS=1000
SSE_SESSIONS=10
SSE_LINES=20          # lines appended to each session per round
SSE_ROUND_MS=100      # so 2,000 entries/s, each delivered to 100 followers
sse_followers() {
    say "SSE: $SSE_FOLLOWERS followers of $SSE_SESSIONS sessions, $SSE_LINES lines each per $SSE_ROUND_MS ms"
    start_server sse
    result sse_followers "$SSE_FOLLOWERS"
    result sse_sessions "$SSE_SESSIONS"
    timeout $((DURATION_S + 120)) taskset -c "$CLIENT_CORE" python3 "$BENCH/sse_followers.py" \
        "$SERVER_ADDR" "$SSE_SESSIONS" "$SSE_FOLLOWERS" "$DURATION_S" "$SSE_LINES" "$SSE_ROUND_MS" \
        "$SERVER_PID" "$CLK_TCK" >"$OUT/sse.out" 2>&1 || echo "bench: warning: the SSE leg failed" >&2
    grep -E '^sse_[a-z_]+=' "$OUT/sse.out" >>"$RESULTS" || true
    grep -E 'delivered|cpu' "$OUT/sse.out" >&2 || true
    stop "$SERVER_PID"
}

# ---------------------------------------------------------------- main

install_tools
record_machine
build
[ "$BUILD_TIME" = 1 ] && build_time
if [ "$SSE_ONLY" = 1 ]; then
    sse_followers
    say "results"
    python3 "$BENCH/report.py" --sse-only "$OUT"
    exit 0
fi
if [ "$METRICS_ONLY" = 1 ]; then
    metrics_answer
elif [ "$WS_CHANGES_ONLY" = 1 ]; then
    websocket_changes
elif [ "$GZIP_INGEST_ONLY" = 1 ]; then
    gzip_ingest_scenarios
elif [ "$HTTP_ONLY" = 1 ]; then
    http_scenarios
else
    if [ "$EXPORT_ONLY" = 0 ]; then
        http_scenarios
        rings_memory
        idle_connections
        websocket_clients
        websocket_changes
        sse_followers
        run_wrapper
        metrics_answer
    fi
    export_scenarios
fi
result loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
say "results"
python3 "$BENCH/report.py" "$OUT"
if [ "$PROFILE" = 1 ]; then
    "$BENCH/profile.sh"
fi
