#!/usr/bin/env bash
# Benchmark (not a test): what one healthy host costs on the wire. Starts the simulator with
# one host (127.0.131.1, PROFILE, default server-2022), captures a `winventory scan` of it with
# the standard profile on the loopback (tshark, filter: that address only), and prints the TCP
# connections, frames, bytes each way, the requests by interface and method, and the
# sequential round trips (benches/round_trips.py: overlapping calls count once).
#
# Usage: benches/round_trips.sh [PROFILE] [--json]     (root or CAP_NET_RAW, for the capture)
# Env: WINVENTORY (binary; default target/release/winventory, built unless BENCH_SKIP_BUILD=1),
#      BENCH_KEEP=DIR (keep the capture and the database there),
#      BENCH_SCAN_ARGS (more `scan` options, e.g. "--connections-per-host 1"),
#      BENCH_LATENCY_MS (the simulator answers each call that long after it: a WAN, where
#      the scan's wall time over the latency is the round trips it waited for; 0).
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
PROFILE=${1:-server-2022}
TARGET=${CARGO_TARGET_DIR:-target}
[[ -n ${BENCH_SKIP_BUILD:-} ]] || cargo build --release -q -p winventory
WINVENTORY=${WINVENTORY:-$TARGET/release/winventory}
ADDR=127.0.131.1
WORK=$(mktemp -d)
SIM=; CAP=
cleanup() {
    [[ -n $CAP ]] && kill "$CAP" 2>/dev/null || true
    [[ -n $SIM ]] && kill "$SIM" 2>/dev/null || true
    [[ -n ${BENCH_KEEP:-} ]] && mkdir -p "$BENCH_KEEP" && cp -r "$WORK"/. "$BENCH_KEEP"/
    rm -rf "$WORK"
}
trap cleanup EXIT
RT_PASSWORD="rt-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export RT_PASSWORD
cat > "$WORK/fleet.toml" <<TOML
[defaults]
user = "LAB\\\\admin"
password_env = "RT_PASSWORD"
profile = "$PROFILE"

[[host]]
address = "$ADDR"
TOML
PORT=$(( 20000 + RANDOM % 20000 ))
"$WINVENTORY" sim --fleet "$WORK/fleet.toml" --port "$PORT" --latency-ms "${BENCH_LATENCY_MS:-0}" \
    > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM=$!
for _ in $(seq 200); do grep -q ready "$WORK/sim.out" && break; sleep 0.05; done
grep -q ready "$WORK/sim.out" || { cat "$WORK/sim.err" >&2; exit 1; }
DYN=$(sed -n 's/.*dynamic_port=\([0-9]*\).*/\1/p' "$WORK/sim.out")
tshark -i lo -f "host $ADDR" -w "$WORK/scan.pcapng" -q > "$WORK/cap.log" 2>&1 &
CAP=$!
for _ in $(seq 100); do grep -q "Capturing" "$WORK/cap.log" && break; sleep 0.05; done
sleep 0.5
START=$(date +%s.%N)
"$WINVENTORY" scan "$ADDR" --user 'LAB\admin' --password-env RT_PASSWORD --port "$PORT" \
    --db "$WORK/scan.db" --profile standard --rate 0 --quiet ${BENCH_SCAN_ARGS:-} > "$WORK/scan.out" 2>&1 \
    || { cat "$WORK/scan.out" >&2; exit 1; }
END=$(date +%s.%N)
sleep 0.5
kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; CAP=
echo "# $(date -u +%FT%TZ) one $PROFILE host, standard profile, $("$WINVENTORY" --version 2>/dev/null || echo winventory)"
python3 benches/round_trips.py "$WORK/scan.pcapng" "$PORT" "$DYN" ${2:-}
[[ ${2:-} == --json ]] || echo "scan wall time $(awk "BEGIN { printf \"%.2f\", $END - $START }") s (process start to exit; simulator latency ${BENCH_LATENCY_MS:-0} ms per answer)"
