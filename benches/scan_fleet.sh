#!/usr/bin/env bash
# Benchmark (not a test): `winventory scan` over a simulated fleet of COUNT (default 10,000)
# hosts, 20 % of them faulty (17 fault kinds: refused logons, DCOM and WMI access denied,
# intermittent and permanent RPC faults, missing classes, slow and hung providers, a silent
# dynamic port, shutting down, a missing StdRegProv namespace, DCOM disabled; see FAULTS in
# benches/scan_stats.py), plus COUNT/10 silent addresses whose SYNs an iptables DROP rule
# swallows (connection timeout). The simulator is its own process (`winventory sim --fleet
# ... --wildcard 0.0.0.0`, port 135). Everything runs in a private network namespace the
# script creates (it re-executes itself under `unshare --net`): only its loopback exists,
# the iptables rule lives there, nothing listens outside and no packet leaves.
#
# Measures the scanner process (wall, user+system CPU, peak RSS; open files, threads and
# RSS sampled during the run) and prints hosts per second (all targets / wall), CPU per
# inventoried host, the statuses (by fault group, checked against what each fault should
# give), the time spent on silent addresses against the floor (silent x connect timeout /
# concurrency): from the attempts table, and from a second scan of the silent addresses
# alone; and a peer in the same namespace and fleet: impacket inventorying SAMPLE healthy
# hosts one after the other (hosts/s, CPU per host, ratios).
#
# Usage: benches/scan_fleet.sh [COUNT] [CONCURRENCY] [CONNECT_TIMEOUT] [SAMPLE]   (as root)
#        defaults 10000 256 2 20
# Env: WINVENTORY (binary), CARGO_TARGET_DIR (default target), BENCH_SKIP_BUILD=1,
#      VENV (.venv-tests, for impacket; SAMPLE=0 skips the peer), BENCH_CALL_TIMEOUT (10),
#      BENCH_RETRY_DELAY (10, the scanner's default), BENCH_SEED (1: the target order),
#      BENCH_KEEP=DIR (keep the fleet, JSON lines and databases there), BENCH_PERF=FILE (profile
#      the full scan with perf into FILE; benches/profile_groups.py groups it; BENCH_PERF_CALLS=fp
#      with the callers, from a build with frame pointers),
#      BENCH_HEAPTRACK=FILE (the full scan under heaptrack into FILE.zst, from a build with
#      `--features system-allocator`: heaptrack sees glibc's malloc, not mimalloc),
#      BENCH_NETEM="delay 10ms loss 0.5%" (a WAN: netem on the namespace's loopback, which
#      every packet of both directions crosses, so the round trip is twice the delay),
#      BENCH_LATENCY_MS=20 (a WAN without netem: the simulator sends each answer that long
#      after its request, `winventory sim --latency-ms`; TCP handshakes stay instant),
#      BENCH_SCAN_ARGS (more `scan` options, e.g. "--connections-per-host 1").
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
COUNT=${1:-10000}
CONCURRENCY=${2:-256}
CONNECT_TIMEOUT=${3:-2}
SAMPLE=${4:-20}
CALL_TIMEOUT=${BENCH_CALL_TIMEOUT:-10}
RETRY_DELAY=${BENCH_RETRY_DELAY:-10}
SEED=${BENCH_SEED:-1}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${VENV:-.venv-tests}
[[ $(id -u) == 0 ]] || { echo "scan_fleet.sh: run as root (network namespace, iptables, port 135)" >&2; exit 2; }
if [[ -z ${SCAN_FLEET_NETNS:-} ]]; then
    [[ -n "${BENCH_SKIP_BUILD:-}" ]] || CARGO_TARGET_DIR=$TARGET cargo build --release -q -p winventory
    # A private network namespace: only a loopback, which this script brings up.
    exec env SCAN_FLEET_NETNS=1 unshare --net -- "$SELF" "$@"
fi
# Refuse to touch a namespace with more than a loopback (not the one unshare created).
[[ $(ip -o link show | wc -l) == 1 ]] || { echo "scan_fleet.sh: not in a private network namespace" >&2; exit 2; }
ip link set lo up
if [[ -n ${BENCH_NETEM:-} ]]; then
    # shellcheck disable=SC2086 # the netem parameters are words
    tc qdisc add dev lo root netem $BENCH_NETEM
fi
WINVENTORY=${WINVENTORY:-$TARGET/release/winventory}
PY=$VENV/bin/python
if [[ $SAMPLE -gt 0 && ! -x $PY ]]; then
    echo "scan_fleet.sh: no venv at $VENV (run scripts/test.sh once, or SAMPLE=0)" >&2; exit 2
fi
ulimit -n 20000

WORK=$(mktemp -d)
SIM_PID=
cleanup() {
    [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null
    [[ -n ${BENCH_KEEP:-} ]] && mkdir -p "$BENCH_KEEP" && cp -r "$WORK"/. "$BENCH_KEEP"/
    rm -rf "$WORK"
}
trap cleanup EXIT

export BENCH_USER='LAB\admin'
BENCH_PASSWORD="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export BENCH_PASSWORD

python3 benches/scan_stats.py fleet "$WORK" "$COUNT" "$SEED"
# Silent addresses: every SYN to 127.2.0.0/16 is dropped (in this namespace only).
iptables -A INPUT -d 127.2.0.0/16 -p tcp --syn -j DROP

sim_cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$SIM_PID/stat"; }
sim_mem() { awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MiB  ", $1, $2 / 1024 }' "/proc/$SIM_PID/status"; }

"$WINVENTORY" sim --fleet "$WORK/fleet.toml" --wildcard 0.0.0.0 --port 135 \
    --latency-ms "${BENCH_LATENCY_MS:-0}" > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 300); do grep -q ready "$WORK/sim.out" && break; sleep 0.05; done
grep -q ready "$WORK/sim.out" || { echo "scan_fleet.sh: simulator not ready:" >&2; cat "$WORK/sim.err" >&2; exit 1; }
echo "# $(date -u +%FT%TZ), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); private network namespace; ulimit -n $(ulimit -n)${BENCH_NETEM:+; netem on lo: $BENCH_NETEM}${BENCH_LATENCY_MS:+; simulator latency ${BENCH_LATENCY_MS} ms per answer}${BENCH_SCAN_ARGS:+; scan $BENCH_SCAN_ARGS}"
echo "# $(cat "$WORK/sim.out")"

# scan TARGETS_FILE NAME: the scanner over a target file into NAME.db, JSON lines to
# NAME.json.stdout, the measures to NAME.json.
scan() {
    local cmd=("$WINVENTORY" scan --targets "$1" --user "$BENCH_USER" --password-env BENCH_PASSWORD
        --db "$WORK/$2.db" --port 135 --profile standard --json --quiet
        --concurrency "$CONCURRENCY" --rate 0 --connect-timeout "$CONNECT_TIMEOUT"
        --call-timeout "$CALL_TIMEOUT" --retry-delay "$RETRY_DELAY")
    # shellcheck disable=SC2206 # more options, as words
    [[ -n ${BENCH_SCAN_ARGS:-} ]] && cmd+=($BENCH_SCAN_ARGS)
    # BENCH_PERF=FILE: the full scan runs under `perf record` (a flat profile at 499 Hz,
    # kernel included; build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for names).
    # BENCH_PERF_CALLS=MODE records the callers too (`perf record --call-graph MODE`: `fp`
    # with a binary built with RUSTFLAGS="-C force-frame-pointers=yes"; `dwarf` finds no
    # callers on this machine's perf), for `perf report --no-children -S SYMBOL -G`.
    if [[ -n ${BENCH_PERF:-} && $2 == scan ]]; then
        calls=()
        [[ -n ${BENCH_PERF_CALLS:-} ]] && calls=(--call-graph "$BENCH_PERF_CALLS")
        cmd=(perf record -q -F 499 "${calls[@]}" -o "$BENCH_PERF" -- "${cmd[@]}")
    fi
    if [[ -n ${BENCH_HEAPTRACK:-} && $2 == scan ]]; then
        cmd=(heaptrack -o "$BENCH_HEAPTRACK" "${cmd[@]}")
    fi
    echo "# ${cmd[*]}" | sed "s|$WORK/||g"
    python3 benches/scan_stats.py run "$WORK/$2.json" -- "${cmd[@]}"
    echo "# database $(du -m "$WORK/$2.db" | cut -f1) MB"
    if [[ -s $WORK/$2.json.stderr ]]; then
        # Log lines grouped without colours, timestamps and addresses.
        echo "# scanner stderr ($(wc -l < "$WORK/$2.json.stderr") lines):"
        sed -E -e 's/\x1b\[[0-9;]*m//g' -e 's/^[0-9T:.-]+Z +//' -e 's/127(\.[0-9]+){3}/ADDR/g' \
            "$WORK/$2.json.stderr" | sort | uniq -c | sort -rn | head -8
    fi
    return 0
}

C0=$(sim_cpu)
scan "$WORK/targets.txt" scan
C1=$(sim_cpu)
echo "# simulator during the full scan: CPU $(echo "$C1 - $C0" | bc) s, $(sim_mem)open files $(ls "/proc/$SIM_PID/fd" | wc -l); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
scan "$WORK/silent.txt" silent
if [[ $SAMPLE -gt 0 ]]; then
    C2=$(sim_cpu)
    BENCH_SAMPLE=$WORK/sample.txt "$PY" benches/scan_stats.py impacket "$SAMPLE" \
        > "$WORK/impacket.json" 2> "$WORK/impacket.err" || true
    echo "# simulator during impacket: CPU $(echo "$(sim_cpu) - $C2" | bc) s"
    [[ -s $WORK/impacket.err ]] && { echo "# impacket stderr:"; sort "$WORK/impacket.err" | uniq -c | sort -rn | head -5; }
fi
python3 benches/scan_stats.py report "$WORK" "$CONCURRENCY" "$CONNECT_TIMEOUT"
