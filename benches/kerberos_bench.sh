#!/usr/bin/env bash
# Benchmark (not a test): Kerberos against NTLM for the same work, same session, against
# one simulated host (127.0.132.1, name web1.lab.test) that accepts both.
#
# The host's key is made here (MIT `ktutil`, from a random password, AES256) and a service
# ticket for host/web1.lab.test is issued with it (impacket's `ticketer.py` from the test
# venv) into a ticket cache: `winventory` then uses Kerberos from KRB5CCNAME with no KDC,
# as after `kinit` and a first use. Measured, REPS rounds alternating the two mechanisms:
# - per query: N `winventory query` processes one after another (benches/cli_bench.py:
#   process start, activation, the logon, NTLMLogin, the query, release, exit), wall and
#   user+system CPU per query;
# - per host: `winventory scan` of HOSTS simulated hosts (127.0.132.1 onwards, named
#   web{n}, all with the one key; `--spn host/web1.lab.test` names the ticket's service),
#   wall and CPU per inventoried host.
# Not measured here: the TGT and service-ticket caches against a KDC (tickets requested
# per host); the Samba tests count those (crates/winv-testsuite/tests/samba_kerberos.rs).
#
# Usage: benches/kerberos_bench.sh [N=100] [HOSTS=50] [REPS=2]
# Env: WINVENTORY (binary; default target/release/winventory, built unless
#      BENCH_SKIP_BUILD=1), VENV (.venv-tests).
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
N=${1:-100}
HOSTS=${2:-50}
REPS=${3:-2}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${VENV:-.venv-tests}
[[ -n ${BENCH_SKIP_BUILD:-} ]] || cargo build --release -q -p winventory
WINVENTORY=${WINVENTORY:-$TARGET/release/winventory}
for tool in ktutil klist; do
    command -v $tool >/dev/null || { echo "kerberos_bench.sh: $tool missing (apt-get install krb5-user)" >&2; exit 2; }
done
[[ -x $VENV/bin/ticketer.py ]] || { echo "kerberos_bench.sh: no $VENV/bin/ticketer.py (run scripts/test.sh once)" >&2; exit 2; }
WORK=$(mktemp -d)
SIM=
cleanup() { [[ -n $SIM ]] && kill "$SIM" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
rand() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }

# The host's key, and a ticket for it in a cache.
KEY_PW="key-$(rand)"
printf 'addent -password -p host/web1.lab.test@LAB.TEST -k 3 -e aes256-cts-hmac-sha1-96\n%s\nwkt %s\nquit\n' \
    "$KEY_PW" "$WORK/web1.keytab" | ktutil > /dev/null
KEY=$(klist -kte -K "$WORK/web1.keytab" | sed -n 's/.*(0x\([0-9a-f]*\)).*/\1/p' | head -1)
(cd "$WORK" && "$OLDPWD/$VENV/bin/ticketer.py" -aesKey "$KEY" -domain-sid S-1-5-21-1-2-3 \
    -domain lab.test -spn host/web1.lab.test inventory > ticketer.log 2>&1)
unset KEY KEY_PW

export BENCH_PASSWORD="bench-$(rand)"
LAST=$(( HOSTS ))
cat > "$WORK/fleet.toml" <<TOML
[defaults]
user = "LAB\\\\admin"
password_env = "BENCH_PASSWORD"

[[host]]
address = "127.0.132.1-127.0.132.$LAST"
name_pattern = "web{n}"
domain = "lab.test"
keytab = "$WORK/web1.keytab"
realm = "LAB.TEST"
TOML
PORT=$(( 20000 + RANDOM % 20000 ))
"$WINVENTORY" sim --fleet "$WORK/fleet.toml" --port "$PORT" > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM=$!
for _ in $(seq 200); do grep -q ready "$WORK/sim.out" && break; sleep 0.05; done
grep -q ready "$WORK/sim.out" || { cat "$WORK/sim.err" >&2; exit 1; }
for _ in $(seq "$N"); do echo "SELECT Caption, Version FROM Win32_OperatingSystem"; done > "$WORK/queries.txt"
seq -f "127.0.132.%g" 1 "$LAST" > "$WORK/targets.txt"

KRB=(--auth kerberos --spn host/web1.lab.test)
per_query() { # MECHANISM
    if [[ $1 == ntlm ]]; then
        BENCH_USER='LAB\admin' BENCH_ARGS="--port $PORT" \
            python3 benches/cli_bench.py "$WINVENTORY" 127.0.132.1 "$WORK/queries.txt"
    else
        env -u BENCH_PASSWORD KRB5CCNAME="$WORK/inventory.ccache" BENCH_USER=inventory@LAB.TEST \
            BENCH_ARGS="${KRB[*]} --port $PORT" python3 benches/cli_bench.py "$WINVENTORY" 127.0.132.1 "$WORK/queries.txt"
    fi
}
per_host() { # MECHANISM
    local args=(scan --targets "$WORK/targets.txt" --db "$WORK/$1.db" --quiet --rate 0 --port "$PORT")
    if [[ $1 == ntlm ]]; then
        args+=(--user 'LAB\admin' --password-env BENCH_PASSWORD)
        python3 benches/scan_stats.py run "$WORK/$1.json" -- "$WINVENTORY" "${args[@]}" > /dev/null
    else
        args+=(--user inventory@LAB.TEST "${KRB[@]}")
        env -u BENCH_PASSWORD KRB5CCNAME="$WORK/inventory.ccache" \
            python3 benches/scan_stats.py run "$WORK/$1.json" -- "$WINVENTORY" "${args[@]}" > /dev/null
    fi
    rm -f "$WORK/$1.db"*
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"wall_s": r["wall_s"], "cpu_s": r["user_s"] + r["sys_s"], "exit": r["exit"]}))' "$WORK/$1.json"
}
echo "# $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $N queries, $HOSTS hosts, $REPS rounds; $("$WINVENTORY" --version)"
for r in $(seq "$REPS"); do
    for m in ntlm kerberos; do
        q=$(per_query $m)
        h=$(per_host $m)
        python3 - "$m" "$r" "$q" "$h" "$HOSTS" <<'PY'
import json, sys
m, r, q, h, hosts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
n = max(q["queries"], 1)
print("round %s %-8s  per query: wall %6.1f ms  cpu %5.1f ms  (errors %d)   per host (scan of %d): wall %6.1f ms  cpu %5.1f ms  (exit %s)" % (
    r, m, 1000 * q["wall_s"] / n, 1000 * q["cpu_s"] / n, q["errors"], hosts,
    1000 * h["wall_s"] / hosts, 1000 * h["cpu_s"] / hosts, h["exit"]))
PY
    done
done
