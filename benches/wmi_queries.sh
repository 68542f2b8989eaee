#!/usr/bin/env bash
# Benchmark (not a test): the same N WQL queries (default 200, benches/queries.py) against
# one simulated host with winventory (library, one session; CLI, one process per query),
# impacket 0.13.1 and aiowmi 1.1.3, repeated REPS times (default 3); prints wall and CPU
# time per query, rows, the simulator's CPU per query and the ratios (medians).
#
# Usage: benches/wmi_queries.sh [N] [REPS]     (as root: port 135, which impacket requires)
# Env: WINVENTORY (binary), BENCH_EXAMPLE (bench_queries binary), VENV (.venv-tests),
#      CARGO_TARGET_DIR (default target), BENCH_ADDR (127.0.9.1), BENCH_SKIP_BUILD=1,
#      BENCH_AB="BINARY BINARY..." (only those bench_queries builds, alternated; see below).
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
REPS=${2:-3}
ADDR=${BENCH_ADDR:-127.0.9.1}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${VENV:-.venv-tests}
PY=$VENV/bin/python
if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    CARGO_TARGET_DIR=$TARGET cargo build --release -q -p winventory
    CARGO_TARGET_DIR=$TARGET cargo build --release -q -p winv-client --example bench_queries
fi
WINVENTORY=${WINVENTORY:-$TARGET/release/winventory}
EXAMPLE=${BENCH_EXAMPLE:-$TARGET/release/examples/bench_queries}
[[ $(id -u) == 0 ]] || { echo "wmi_queries.sh: run as root (port 135 for impacket)" >&2; exit 2; }
[[ -x $PY ]] || { echo "wmi_queries.sh: no venv at $VENV (run scripts/test.sh once)" >&2; exit 2; }

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
echo "# $(date -u +%FT%TZ) $(nproc) cores; $(cat "$WORK/sim.out")"
echo "# $N queries (cycle of $(sort -u "$WORK/queries.txt" | wc -l) distinct), $REPS repetitions, packet privacy"

# BENCH_AB="BINARY BINARY...": only these builds of bench_queries, one after the other REPS
# times (the machine's drift spread over all of them), and each one's median and least CPU
# per query, against the first.
if [[ -n ${BENCH_AB:-} ]]; then
    read -r -a builds <<< "$BENCH_AB"
    for _ in $(seq "$REPS"); do
        for b in "${builds[@]}"; do
            printf '%s ' "$b"
            "$b" "$ADDR" "$WORK/queries.txt" | tail -1
        done
    done > "$WORK/ab.txt"
    python3 - "$WORK/ab.txt" "${builds[@]}" <<'PY'
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
    exit 0
fi

# User+system CPU seconds of the simulator so far (all its threads).
sim_cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$SIM_PID/stat"; }

# run CLIENT-NAME COMMAND...: runs a helper, adds the simulator's CPU and the whole
# process's wall/CPU (from /usr/bin/time) to its JSON line.
run() {
    local name=$1; shift
    local s0 s1
    s0=$(sim_cpu)
    if ! /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" > "$WORK/out" 2> "$WORK/err"; then
        echo "# $name failed: $(tail -3 "$WORK/err")" >&2
    fi
    s1=$(sim_cpu)
    [[ -s $WORK/err ]] && sed "s/^/# $name: /" "$WORK/err" | sort | uniq -c | head -5 >&2
    python3 - "$WORK/out" "$WORK/time" "$s0" "$s1" >> "$WORK/results.jsonl" <<'PY'
import json, sys
out, tfile, s0, s1 = sys.argv[1:5]
lines = [l for l in open(out) if l.startswith("{")]
if lines:
    r = json.loads(lines[-1])
    e, u, s = (float(x) for x in open(tfile).read().split()[-3:])
    r.update(sim_cpu_s=float(s1) - float(s0), process_wall_s=e, process_cpu_s=u + s)
    print(json.dumps(r))
PY
    tail -1 "$WORK/results.jsonl" | cut -c1-200
}

for rep in $(seq "$REPS"); do
    echo "# repetition $rep"
    run winventory-lib "$EXAMPLE" "$ADDR" "$WORK/queries.txt"
    run winventory-cli python3 benches/cli_bench.py "$WINVENTORY" "$ADDR" "$WORK/queries.txt"
    run impacket "$PY" benches/impacket_bench.py "$ADDR" "$WORK/queries.txt"
    run aiowmi "$PY" benches/aiowmi_bench.py "$ADDR" "$WORK/queries.txt"
done
echo
python3 benches/summarize.py "$WORK/results.jsonl"
[[ -n ${BENCH_KEEP:-} ]] && cp "$WORK/results.jsonl" "$BENCH_KEEP"
exit 0
