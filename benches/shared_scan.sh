#!/usr/bin/env bash
# Benchmark (not a test): one run of COUNT (default 3,000) simulated hosts worked on by 1, 2
# and 3 `winventory scan` processes sharing it through a throwaway PostgreSQL (`--shared`,
# `--join`), and by one scanner on SQLite, in the same session. Prints, per setting, the wall
# time, hosts per second, the scanners' CPU per host, the database size per host, and the
# PostgreSQL time per computer of the claim and finish statements (pg_stat_statements).
#
# The fleet is the shared-run test's (intermittent and permanent RPC faults, DCOM access
# denied, a missing class) with the standard profile. The simulator (`winventory sim
# --fleet ... --wildcard 0.0.0.0`, port 135) and PostgreSQL (127.0.0.1, a free port) run in
# a private network namespace the script creates (`unshare --net`): only its loopback
# exists, nothing listens outside and no packet leaves.
#
# Usage: benches/shared_scan.sh [COUNT] [CONCURRENCY]   (as root; defaults 3000 64)
# Env: WINVENTORY (binary), CARGO_TARGET_DIR (default target), BENCH_SKIP_BUILD=1.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
COUNT=${1:-3000}
CONCURRENCY=${2:-64}
TARGET=${CARGO_TARGET_DIR:-target}
[[ $(id -u) == 0 ]] || { echo "shared_scan.sh: run as root (network namespace, port 135, PostgreSQL as postgres)" >&2; exit 2; }
if [[ -z ${SHARED_SCAN_NETNS:-} ]]; then
    [[ -n "${BENCH_SKIP_BUILD:-}" ]] || CARGO_TARGET_DIR=$TARGET cargo build --release -q -p winventory
    exec env SHARED_SCAN_NETNS=1 unshare --net -- "$SELF" "$@"
fi
[[ $(ip -o link show | wc -l) == 1 ]] || { echo "shared_scan.sh: not in a private network namespace" >&2; exit 2; }
ip link set lo up
WINVENTORY=$(realpath "${WINVENTORY:-$TARGET/release/winventory}")
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[[ -x $PGBIN/initdb ]] || { echo "shared_scan.sh: no PostgreSQL server (apt-get install postgresql)" >&2; exit 2; }
ulimit -n 20000

WORK=$(mktemp -d)
chmod 755 "$WORK"
SIM_PID=
cleanup() {
    [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The fleet: addresses from 127.21.0.1.
export WINV_BENCH_SIM_PW="Bench-Shared-Pw-7731!"
cat > "$WORK/fleet.toml" <<EOF
[defaults]
user = "LAB\\\\inventory"
password_env = "WINV_BENCH_SIM_PW"
seed = 11

[mix]
start = "127.21.0.1"
count = $COUNT
seed = 5
profiles = ["server-2019", "server-2022", "windows-11"]
faults = [
  { percent = 6, kind = "rpc_call_failed", call = "ExecQuery", first_attempts = 1 },
  { percent = 4, kind = "call_cancelled", call = "ExecQuery", first_attempts = 2 },
  { percent = 2, kind = "rpc_call_failed", call = "ExecQuery", first_attempts = 4 },
  { percent = 3, kind = "dcom_access_denied" },
  { percent = 3, kind = "invalid_class", class = "Win32_Service" },
]
EOF
LAST=$(python3 -c "import ipaddress; print(ipaddress.IPv4Address('127.21.0.1') + $COUNT - 1)")
RANGE="127.21.0.1-$LAST"

# A throwaway PostgreSQL as the postgres user, password authentication on 127.0.0.1.
PGPORT=55432
PGPW=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$PGPW" > "$WORK/pw.tmp"; chown postgres "$WORK/pw.tmp"
mkdir "$WORK/pg"; chown postgres "$WORK/pg"; chmod 700 "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -U winv --pwfile="$WORK/pw.tmp" -A scram-sha-256 >/dev/null
rm "$WORK/pw.tmp"
echo "shared_preload_libraries = 'pg_stat_statements'" >> "$WORK/pg/postgresql.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" -w -l "$WORK/pg/server.log" start >/dev/null
install -m 600 /dev/null "$WORK/db.pw"; echo "$PGPW" > "$WORK/db.pw"
psql_do() { PGPASSWORD=$PGPW psql -h 127.0.0.1 -p $PGPORT -U winv -d "$1" -qtAc "$2"; }

"$WINVENTORY" sim --fleet "$WORK/fleet.toml" --wildcard 0.0.0.0 --port 135 > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do grep -q ready "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/sim.out" || { cat "$WORK/sim.err"; exit 1; }
# The faults that clear after N activations count per simulator: restart it per setting.
restart_sim() {
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
    "$WINVENTORY" sim --fleet "$WORK/fleet.toml" --wildcard 0.0.0.0 --port 135 > "$WORK/sim.out" 2> "$WORK/sim.err" &
    SIM_PID=$!
    for _ in $(seq 100); do grep -q ready "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
}

COMMON=(--user 'LAB\inventory' --password-env WINV_BENCH_SIM_PW --rate 0 --concurrency "$CONCURRENCY"
        --retry-delay 1 --connect-timeout 2 --call-timeout 10 --quiet)
printf "%-22s %8s %8s %12s %12s %14s %14s\n" setting wall_s hosts/s cpu_ms/host db_KB/host claim_ms/comp finish_ms/comp

# One setting: N scanners on DB; prints a line.
run() {
    local label=$1 n=$2 db=$3; shift 3
    restart_sim
    local start; start=$(date +%s.%N)
    local times=()
    /usr/bin/time -f "%U %S" -o "$WORK/t0" "$WINVENTORY" scan "$RANGE" --shared --scanner-name s0 --db "$db" "$@" "${COMMON[@]}" > /dev/null 2> "$WORK/s0.err" &
    local pids=($!)
    for _ in $(seq 100); do grep -q "shared run" "$WORK/s0.err" 2>/dev/null && break; sleep 0.05; done
    local run_id; run_id=$(grep -o "shared run [0-9]*" "$WORK/s0.err" | awk '{print $3}')
    for i in $(seq 1 $((n - 1))); do
        /usr/bin/time -f "%U %S" -o "$WORK/t$i" "$WINVENTORY" scan --join "$run_id" --scanner-name "s$i" --db "$db" "$@" "${COMMON[@]}" > /dev/null 2> "$WORK/s$i.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    local end; end=$(date +%s.%N)
    local cpu; cpu=$(cat "$WORK"/t[0-9]* | awk '{u+=$1; s+=$2} END {print u+s}')
    rm -f "$WORK"/t[0-9]*
    echo "$label $n $start $end $cpu $run_id" >> "$WORK/runs"
}

summary_line() {
    local label=$1 start=$2 end=$3 cpu=$4 bytes=$5 claim=$6 finish=$7
    python3 - "$label" "$start" "$end" "$cpu" "$bytes" "$COUNT" "$claim" "$finish" <<'EOF'
import sys
label, start, end, cpu, size, count, claim, finish = sys.argv[1:]
wall = float(end) - float(start); count = int(count)
print(f"{label:<22} {wall:8.1f} {count / wall:8.1f} {float(cpu) * 1000 / count:12.2f} {int(size) / 1024 / count:12.1f} {claim:>14} {finish:>14}")
EOF
}

# SQLite, one scanner.
rm -f "$WORK/one.db"*
: > "$WORK/runs"
run sqlite-1 1 "$WORK/one.db"
read -r _ _ s e c _ < "$WORK/runs"
bytes=$(( $(stat -c %s "$WORK/one.db") + $(stat -c %s "$WORK/one.db-wal" 2>/dev/null || echo 0) ))
summary_line "sqlite, 1 scanner" "$s" "$e" "$c" "$bytes" - -

for n in 1 2 3; do
    db="bench$n"
    psql_do postgres "CREATE DATABASE $db" >/dev/null
    psql_do "$db" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    url="postgres://winv@127.0.0.1:$PGPORT/$db?sslmode=disable"
    : > "$WORK/runs"
    psql_do "$db" "SELECT pg_stat_statements_reset()" >/dev/null
    run "pg-$n" "$n" "$url" --db-password-file "$WORK/db.pw"
    read -r _ _ s e c _ < "$WORK/runs"
    bytes=$(psql_do "$db" "SELECT pg_database_size('$db')")
    # Time per computer in the statements that claim and that mark a computer done.
    claim=$(psql_do "$db" "SELECT round((sum(total_exec_time) / $COUNT)::numeric, 3) FROM pg_stat_statements WHERE query ILIKE '%SKIP LOCKED%'")
    finish=$(psql_do "$db" "SELECT round((sum(total_exec_time) / $COUNT)::numeric, 3) FROM pg_stat_statements WHERE query ILIKE 'UPDATE work SET state%' OR query ILIKE 'INSERT INTO computers%' OR query ILIKE 'INSERT INTO attempts%'")
    summary_line "postgres, $n scanner(s)" "$s" "$e" "$c" "$bytes" "${claim:--}" "${finish:--}"
done
