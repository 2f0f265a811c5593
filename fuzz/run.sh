#!/bin/sh
# Runs every fuzz target for SECONDS each (default 30): `fuzz/run.sh [SECONDS]`.
#
# The targets are what `cargo fuzz list` names (the [[bin]]s of
# fuzz/Cargo.toml), so a new one is fuzzed without being listed here. Each
# starts from its committed seeds (fuzz/seeds/TARGET, read only, if any) and
# what earlier runs kept (fuzz/corpus/TARGET, git-ignored). Prints one line
# per target with its executions; exits 1 if any target found a crash or a
# broken property (the input is in fuzz/artifacts/TARGET/, the log in
# fuzz/artifacts/TARGET.log), 2 if the targets could not be listed or built.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on stable via
# RUSTC_BOOTSTRAP.
set -u
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cd "$root" || exit 2
export RUSTC_BOOTSTRAP=1

targets=$(cargo fuzz list) || exit 2
[ -n "$targets" ] || { echo "fuzz: cargo fuzz list named no targets"; exit 2; }

# -s none: no sanitizer (the crate forbids unsafe code), about 7x the
# executions of ASan. Debug assertions and overflow checks stay on.
timeout 900 cargo fuzz build -s none || exit 2

failed=""
for target in $targets; do
    case $target in
        head | framing | chunked | host_origin | collector_answer) dict="-dict=$root/fuzz/dicts/http.dict" ;;
        json_ingest | ndjson_ingest | session_body | ws_message | otlp_answer) dict="-dict=$root/fuzz/dicts/json.dict" ;;
        *) dict="" ;;
    esac
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    # libFuzzer refuses a corpus directory that does not exist.
    seeds=""
    [ -d "fuzz/seeds/$target" ] && seeds="$root/fuzz/seeds/$target"
    log="fuzz/artifacts/$target.log"
    # -max_total_time does not count start-up: the outer timeout is a guard.
    timeout $((seconds + 120)) cargo fuzz run -s none "$target" \
        "$root/fuzz/corpus/$target" $seeds -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 $dict >"$log" 2>&1
    status=$?
    runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -n 1)
    echo "fuzz $target: ${runs:-no summary} (exit $status)"
    if [ "$status" -ne 0 ]; then
        failed="$failed $target"
        tail -n 40 "$log"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "fuzz: all targets passed"
