#!/usr/bin/env bash
# Benchmark (not a test): two or more builds of `bench_queries` (the library's query loop,
# crates/winv-client/examples/bench_queries.rs) against one simulated host, one after the
# other REPS times (default 8), N queries each (default 1000, benches/queries.py); prints
# each build's median and least CPU per query. Alternating the builds spreads the machine's
# drift over all of them: compare builds within one run only.
#
# Usage: benches/ab_queries.sh [-n N] [-r REPS] BINARY BINARY...   (as root: port 135)
# Env: WINVENTORY (the simulator's binary, default target/release/winventory),
#      BENCH_ADDR (127.0.9.1). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000
REPS=8
while getopts n:r: o; do
    case $o in
        n) N=$OPTARG ;;
        r) REPS=$OPTARG ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
(($# >= 1)) || { echo "usage: ab_queries.sh [-n N] [-r REPS] BINARY BINARY..." >&2; exit 2; }
ADDR=${BENCH_ADDR:-127.0.9.1}
WINVENTORY=${WINVENTORY:-target/release/winventory}
[[ $(id -u) == 0 ]] || { echo "ab_queries.sh: run as root (port 135)" >&2; exit 2; }

WORK=$(mktemp -d)
SIM_PID=
cleanup() { [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export BENCH_USER='LAB\admin'
BENCH_PASSWORD="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export BENCH_PASSWORD
python3 benches/queries.py "$N" > "$WORK/queries.txt"
"$WINVENTORY" sim --address "$ADDR" --user "$BENCH_USER" --password-env BENCH_PASSWORD \
    > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do grep -q ready "$WORK/sim.out" && break; sleep 0.1; done
grep -q ready "$WORK/sim.out" || { cat "$WORK/sim.err" >&2; exit 1; }
echo "# $(date -u +%FT%TZ) $(nproc) cores; $N queries, $REPS rounds; simulator $WINVENTORY"

for _ in $(seq "$REPS"); do
    for b in "$@"; do
        printf '%s ' "$b"
        "$b" "$ADDR" "$WORK/queries.txt" | tail -1
    done
done > "$WORK/runs.txt"

python3 - "$WORK/runs.txt" "$@" <<'PY'
import json, statistics, sys
runs, order = sys.argv[1], sys.argv[2:]
per = {b: [] for b in order}
for line in open(runs):
    b, _, js = line.partition(" ")
    r = json.loads(js)
    if r.get("errors"):
        print(f"# {b}: {r['errors']} queries failed", file=sys.stderr)
    per[b].append(1000 * r["cpu_s"] / r["queries"])
base = statistics.median(per[order[0]])
print(f"{'build':40} {'median ms/q':>12} {'least':>8} {'vs first':>9}")
for b in order:
    m = statistics.median(per[b])
    print(f"{b[-40:]:40} {m:12.4f} {min(per[b]):8.4f} {m / base:9.2f}")
PY
