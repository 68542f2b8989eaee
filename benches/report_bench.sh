#!/usr/bin/env bash
# Benchmark (not a test): `winventory report` and `winventory serve` on a large run.
#
# The database: DB if given (e.g. the one `benches/scan_fleet.sh` keeps with BENCH_KEEP, a
# 10,000-host run), else a fresh `winventory demo --hosts HOSTS` (loopback only, at most
# 20,000 hosts).
#
# Measures, for xlsx, html and csv: wall time and peak RSS of the `report` process
# (`/usr/bin/time -v`), and the output size; the peer, measured in the same run on the same
# file: the sqlite3 CLI exporting the same detail tables (scan results, operating systems,
# hardware, installed software, hotfixes, services) to CSV, with the ratio. Then the
# dashboard: `serve` on 127.0.0.1, REQS requests each of the overview, a filtered
# computer list, a computer page, the software page, the failures page and the computer
# list filtered by the most installed program (curl, one at a time), median and p95 in ms.
#
# Usage: benches/report_bench.sh [DB] [REQS=50]
# Env:   WINVENTORY (binary; default: $CARGO_TARGET_DIR/release/winventory, built unless
#        BENCH_SKIP_BUILD=1), HOSTS (demo size when no DB, 10000), BENCH_KEEP=DIR.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
DB=${1:-}
REQS=${2:-50}
HOSTS=${HOSTS:-10000}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${WINVENTORY:-$TARGET/release/winventory}
if [[ -z "${WINVENTORY:-}" && "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p winventory >&2
fi
WORK=${BENCH_KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
cleanup() {
    [[ -n "${SERVE_PID:-}" ]] && kill "$SERVE_PID" 2>/dev/null || true
    [[ -z "${BENCH_KEEP:-}" ]] && rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z "$DB" ]]; then
    DB=$WORK/demo.db
    echo "== demo: $HOSTS simulated hosts into $DB" >&2
    "$BIN" demo --hosts "$HOSTS" --silent 0 --db "$DB" --quiet
fi
COMPUTERS=$(sqlite3 "$DB" 'select count(*) from computers where run_id = (select max(id) from runs)')
SERVICES=$(sqlite3 "$DB" 'select count(*) from services where run_id = (select max(id) from runs)')
SOFTWARE=$(sqlite3 "$DB" 'select count(*) from installed_software where run_id = (select max(id) from runs)')
echo "== run: $COMPUTERS computers, $SOFTWARE installed programs, $SERVICES services"

measure() { # label, command...
    local label=$1
    shift
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" || {
        cat "$WORK/err.txt" >&2
        return 1
    }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$WORK/time.txt")
    # m:ss.cc to seconds
    local secs
    secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    printf '%-22s wall %8.2f s   peak RSS %8s MiB\n' "$label" "$secs" "$rss"
    echo "$secs" >"$WORK/last_secs"
}

echo "== report"
for f in xlsx html csv; do
    out=$WORK/report.$f
    measure "report --format $f" "$BIN" report --db "$DB" --format "$f" -o "$out"
    eval "T_$f=$(cat "$WORK/last_secs")"
    printf '%-22s size %s\n' "" "$(du -sh "$out" | cut -f1)"
done

echo "== peer: sqlite3 CLI, the same detail tables to CSV"
cat >"$WORK/peer.sql" <<'EOF'
.headers on
.mode csv
.output /dev/null
select * from computers where run_id = (select max(id) from runs) order by target;
select o.*, h.name, h.domain from operating_systems o left join hosts h using (computer_id) where o.run_id = (select max(id) from runs) order by o.target;
select w.*, h.manufacturer, h.model, h.total_physical_memory from hardware w left join hosts h using (computer_id) where w.run_id = (select max(id) from runs) order by w.target;
select * from installed_software where run_id = (select max(id) from runs) order by target, position;
select * from hotfixes where run_id = (select max(id) from runs) order by target, position;
select * from services where run_id = (select max(id) from runs) order by target, position;
EOF
measure "sqlite3 -csv (peer)" sqlite3 -readonly "$DB" ".read $WORK/peer.sql"
T_peer=$(cat "$WORK/last_secs")
awk -v x="$T_xlsx" -v c="$T_csv" -v p="$T_peer" 'BEGIN {
    printf "ratio  report csv / sqlite3: %.2f   report xlsx / sqlite3: %.2f\n", c / p, x / p }'

echo "== dashboard: $REQS requests per page, one at a time"
"$BIN" serve --db "$DB" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 100); do
    grep -q listening "$WORK/serve.out" 2>/dev/null && break
    sleep 0.1
done
BASE=$(sed -n 's|listening on \(http://[^/]*\)/|\1|p' "$WORK/serve.out")
ONE=$(sqlite3 "$DB" "select target from computers where run_id = (select max(id) from runs) and status = 'inventoried' order by target limit 1")
# The most installed program, for the list filtered by software (percent-encoded).
TOP=$(sqlite3 "$DB" "select name from installed_software where run_id = (select max(id) from runs) group by name order by count(distinct computer_id) desc, name limit 1")
TOP=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TOP")
for page in "/" "/computers?status=inventoried&sort=name&page=2" "/computer?target=$ONE" "/software" \
    "/failures" "/computers?software=$TOP"; do
    : >"$WORK/lat.txt"
    for _ in $(seq "$REQS"); do
        curl -s -o /dev/null -w '%{time_total}\n' "$BASE$page" >>"$WORK/lat.txt"
    done
    sort -n "$WORK/lat.txt" | awk -v page="$page" '{ a[NR] = $1 * 1000 } END {
        p50 = a[int((NR + 1) / 2)]; i = int(NR * 0.95 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
        printf "%-48s median %7.1f ms   p95 %7.1f ms\n", page, p50, a[i] }'
done
