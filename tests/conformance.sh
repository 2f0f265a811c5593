#!/usr/bin/env bash
# WebSocket conformance: the Autobahn test cases (run by kosoku, from PyPI)
# against the server's echo route, /ws-echo, which goes through exactly the
# same connection, buffering and framing code as /sessions/ws.
#
#   tests/conformance.sh          build, start `sessions-lite --ws-echo` on a
#                                 free port, run the cases, stop the server
#   tests/conformance.sh PORT     run the cases against a server already
#                                 listening on 127.0.0.1:PORT with --ws-echo
#
# Excluded cases, and why:
#   9.*   large messages and frames (up to 16 MiB): over the 64 KiB
#         WebSocket message limit (WS_MESSAGE_BYTES_MAX) by design, the
#         server answers them with close 1009. The limit has its own tests
#         in tests/it/ws.rs.
#   12.*  permessage-deflate. The server negotiates it, but kosoku 0.1.0
#   13.*  cannot run these cases: each one fails inside kosoku before it
#         connects ("Strings must be encoded before hashing", a bytes/str
#         slip in its port of case12_x_x.py). tests/deflate_interop.py
#         covers the same ground with the Python `websockets` library (an
#         independent permessage-deflate, zlib underneath) and runs here
#         after the cases, against the same server.
#
# Two cases are NON-STRICT (conformant, below a SHOULD): 6.4.3 and 6.4.4
# send invalid UTF-8 in the middle of a frame and expect the connection to
# fail before the frame ends; tungstenite checks text per frame, so it fails
# when the frame is complete (close 1007). Three are INFORMATIONAL.
#
# Reports (HTML and JSON per case) go to $REPORT_DIR, default
# target/conformance. Exits non-zero when a case fails or the server dies.
set -euo pipefail

cd "$(dirname "$0")/.."
port="${1:-}"
venv=".venv"
report_dir="${REPORT_DIR:-target/conformance}"
excluded=(-x '9.*' -x '12.*' -x '13.*')

if [[ ! -x "$venv/bin/kosoku" ]]; then
    [[ -d "$venv" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet kosoku
fi
if ! "$venv/bin/python" -c 'import websockets' 2>/dev/null; then
    "$venv/bin/pip" install --quiet 'websockets>=13'
fi

server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap stop_server EXIT

if [[ -z "$port" ]]; then
    cargo build --release --quiet
    target_dir="$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    server_out="$(mktemp)"
    "$target_dir/release/sessions-lite" --ws-echo --listen 127.0.0.1:0 >"$server_out" 2>/dev/null &
    server_pid=$!
    # The first line names the real port; wait for it (at most 10 s).
    for _ in $(seq 100); do
        [[ -s "$server_out" ]] && break
        sleep 0.1
    done
    address="$(head -n 1 "$server_out" | sed -n 's|^listening on http://||p')"
    rm -f "$server_out"
    if [[ -z "$address" ]]; then
        echo "conformance: the server did not say where it listens" >&2
        exit 1
    fi
else
    address="127.0.0.1:$port"
fi

echo "conformance: kosoku against ws://$address/ws-echo (excluded: 9.*, 12.*, 13.*)"
status=0
"$venv/bin/kosoku" -p 4 "${excluded[@]}" -o "$report_dir" "ws://$address/ws-echo" || status=$?

echo "conformance: permessage-deflate against the Python websockets library"
"$venv/bin/python" tests/deflate_interop.py "$address" || status=$?

# One line per verdict: "OK/OK: 242" and so on.
python3 - "$report_dir/index.json" <<'EOF'
import collections, json, sys
counts = collections.Counter()
for cases in json.load(open(sys.argv[1])).values():
    for case in cases.values():
        counts[f"{case['behavior']}/{case['behaviorClose']}"] += 1
for verdict, count in sorted(counts.items()):
    print(f"conformance: {verdict}: {count}")
print(f"conformance: {sum(counts.values())} cases")
EOF

if [[ -n "$server_pid" ]] && ! kill -0 "$server_pid" 2>/dev/null; then
    echo "conformance: the server died during the run" >&2
    status=1
fi
if [[ "$status" -ne 0 ]]; then
    echo "conformance: FAILED (kosoku exit $status)" >&2
fi
exit "$status"
