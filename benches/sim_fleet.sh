#!/usr/bin/env bash
# Benchmark (not a test): one `winventory sim` process serving a fleet of COUNT (default
# 10,000) simulated hosts from 127.1.0.1 upward, listening once on the wildcard 0.0.0.0
# (a socket on 127.0.0.1 would only accept connections to 127.0.0.1; the simulator tells
# the hosts apart by each connection's local address). Measures the time until the ready
# line and the resident memory (VmRSS, VmHWM) after startup and after the sample; then
# TCP connects to port 135 of SAMPLE (100) random hosts and runs a full WMI query
# (`winventory query ... "SELECT Caption, CSName FROM Win32_OperatingSystem"`) on QUERIES
# (20) of them, checking each host answers with its own name.
#
# Usage: benches/sim_fleet.sh [COUNT] [SAMPLE] [QUERIES] [SEED]   (as root: port 135)
# Env: WINVENTORY (binary), CARGO_TARGET_DIR (default target), BENCH_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-10000}
SAMPLE=${2:-100}
QUERIES=${3:-20}
SEED=${4:-$RANDOM}
TARGET=${CARGO_TARGET_DIR:-target}
[[ -n "${BENCH_SKIP_BUILD:-}" ]] || CARGO_TARGET_DIR=$TARGET cargo build --release -q -p winventory
WINVENTORY=${WINVENTORY:-$TARGET/release/winventory}
[[ $(id -u) == 0 ]] || { echo "sim_fleet.sh: run as root (port 135)" >&2; exit 2; }
ulimit -n 20000

WORK=$(mktemp -d)
SIM_PID=
cleanup() { [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export BENCH_USER='LAB\admin'
BENCH_PASSWORD="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export BENCH_PASSWORD
cat > "$WORK/fleet.toml" <<TOML
[defaults]
user = "LAB\\\\admin"
password_env = "BENCH_PASSWORD"
seed = 1
name_pattern = "H{a}"

[mix]
start = "127.1.0.1"
count = $COUNT
seed = 1
profiles = ["server-2012r2", "server-2016", "server-2019", "server-2022", "server-2025", "windows-10", "windows-11"]
faults = []
TOML

mem() { awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MB  ", $1, $2 / 1024 }' "/proc/$SIM_PID/status"; }

echo "# $(date -u +%FT%TZ) $(nproc) cores; fleet of $COUNT hosts from 127.1.0.1, wildcard 0.0.0.0:135, ulimit -n $(ulimit -n), sample seed $SEED"
T0=$(date +%s.%N)
"$WINVENTORY" sim --fleet "$WORK/fleet.toml" --wildcard 0.0.0.0 > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
while ! grep -q ready "$WORK/sim.out"; do
    kill -0 "$SIM_PID" 2>/dev/null || { echo "sim_fleet.sh: simulator exited:" >&2; cat "$WORK/sim.err" >&2; exit 1; }
    sleep 0.01
done
T1=$(date +%s.%N)
echo "$(cat "$WORK/sim.out")"
printf 'startup: %.2f s (until the ready line)\n' "$(echo "$T1 - $T0" | bc)"
echo "memory after startup: $(mem)"
echo "open files of the simulator: $(ls "/proc/$SIM_PID/fd" | wc -l)"
S0=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SIM_PID/stat")
RC=0
python3 benches/fleet_sample.py "$WINVENTORY" 127.1.0.1 "$COUNT" "$SAMPLE" "$QUERIES" "$SEED" || RC=$?
echo "memory after the sample: $(mem)"
echo "simulator CPU during startup+sample: $(awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$SIM_PID/stat") s (startup alone: $(echo "$S0 / $(getconf CLK_TCK)" | bc -l | cut -c1-5) s)"
exit $RC
