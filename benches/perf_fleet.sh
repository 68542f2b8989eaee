#!/usr/bin/env bash
# Benchmark (not a test): `winventory perf` sampling COUNT (default 1,000) simulated hosts
# every INTERVAL (default 60s) for DURATION (default 10m), against one `winventory sim`
# process serving the fleet on the wildcard 0.0.0.0:135 (loopback addresses 127.2.0.1
# upward). Reports the scanner's CPU time (user+system from /proc) per stored sample, its
# peak memory, and from the database: samples stored, failed and missed slots (a slot is
# missed when the machine's previous sample was still running at its end: "an interval
# was missed"), per slot the spread between its first and last sample.
#
# Everything runs in a private network namespace the script creates (it re-executes itself
# under `unshare --net`): only its loopback exists, so the simulator's wildcard listener
# is reachable from nowhere else.
#
# Usage: benches/perf_fleet.sh [COUNT] [INTERVAL] [DURATION]   (as root: a namespace, port 135)
# Env: WINVENTORY (binary), CARGO_TARGET_DIR (default target), BENCH_SKIP_BUILD=1.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
COUNT=${1:-1000}
INTERVAL=${2:-60s}
DURATION=${3:-10m}
TARGET=${CARGO_TARGET_DIR:-target}
[[ $(id -u) == 0 ]] || { echo "perf_fleet.sh: run as root (network namespace, port 135)" >&2; exit 2; }
if [[ -z ${PERF_FLEET_NETNS:-} ]]; then
    [[ -n "${BENCH_SKIP_BUILD:-}" ]] || CARGO_TARGET_DIR=$TARGET cargo build --release -q -p winventory
    exec env PERF_FLEET_NETNS=1 unshare --net -- "$SELF" "$@"
fi
# Refuse to touch a namespace with more than a loopback (not the one unshare created).
[[ $(ip -o link show | wc -l) == 1 ]] || { echo "perf_fleet.sh: not in a private network namespace" >&2; exit 2; }
ip link set lo up
WINVENTORY=${WINVENTORY:-$TARGET/release/winventory}
command -v sqlite3 >/dev/null || { echo "perf_fleet.sh: needs sqlite3" >&2; exit 2; }
ulimit -n 20000

WORK=$(mktemp -d)
SIM_PID=
cleanup() { [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

BENCH_PASSWORD="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export BENCH_PASSWORD
cat > "$WORK/fleet.toml" <<TOML
[defaults]
user = "LAB\\\\admin"
password_env = "BENCH_PASSWORD"
seed = 1

[mix]
start = "127.2.0.1"
count = $COUNT
seed = 1
profiles = ["server-2016", "server-2019", "server-2022", "windows-10", "windows-11"]
faults = []
TOML
"$WINVENTORY" sim --fleet "$WORK/fleet.toml" --wildcard 0.0.0.0 > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
while ! grep -q ready "$WORK/sim.out"; do
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.05
done
LAST=$(python3 -c "import ipaddress; print(ipaddress.ip_address('127.2.0.1') + $COUNT - 1)")
echo "# $(date -u +%FT%TZ) $(nproc) cores; $COUNT hosts 127.2.0.1-$LAST, every $INTERVAL for $DURATION"
"$WINVENTORY" perf --quiet --db "$WORK/perf.db" --user 'LAB\admin' --password-env BENCH_PASSWORD \
    --interval "$INTERVAL" --duration "$DURATION" --concurrency 128 "127.2.0.1-$LAST" > "$WORK/summary.txt" &
PERF_PID=$!
HZ=$(getconf CLK_TCK)
PEAK=0
CPU=0
while kill -0 "$PERF_PID" 2>/dev/null; do
    if [[ -r /proc/$PERF_PID/stat ]]; then
        read -r -a st < "/proc/$PERF_PID/stat" || true
        CPU=$(( ${st[13]:-0} + ${st[14]:-0} ))
        RSS=$(awk '/^VmHWM/ { print $2 }' "/proc/$PERF_PID/status" 2>/dev/null || echo 0)
        (( RSS > PEAK )) && PEAK=$RSS
    fi
    sleep 1
done
wait "$PERF_PID"
Q() { sqlite3 "$WORK/perf.db" "$1"; }
OK=$(Q "select count(*) from perf_samples where ok")
FAILED=$(Q "select count(*) from perf_samples where not ok and errors not like 'missed%'")
MISSED=$(Q "select count(*) from perf_samples where errors like 'missed%'")
SPREAD=$(Q "select max(s) from (select max(sampled_ms) - min(sampled_ms) as s from perf_samples group by slot)")
printf 'scanner CPU %.2f s for %d samples: %.3f ms per sample; peak RSS %.1f MB\n' \
    "$(echo "$CPU / $HZ" | bc -l)" "$OK" "$(echo "$CPU * 1000 / $HZ / ($OK + ($OK == 0))" | bc -l)" "$(echo "$PEAK / 1024" | bc -l)"
echo "samples $OK, failed slots $FAILED, missed slots $MISSED, widest slot spread ${SPREAD} ms"
