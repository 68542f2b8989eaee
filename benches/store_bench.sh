#!/usr/bin/env bash
# Store benchmark (not a test): one scanner claims and finishes N realistic computers
# (a server with SERVICES services, 30 hotfixes, 60 programs) through the shared-run API,
# on SQLite and on a throwaway PostgreSQL on 127.0.0.1 started by the benchmark itself
# (initdb + pg_ctl from Debian's postgresql; as the postgres user under root), in the same
# session. Prints claim and finish (commit) latency per computer, computers per second and
# database bytes per computer for each backend.
#
#   benches/store_bench.sh [N=2000] [SERVICES=150]
#
# BENCH_PROFILE=debug uses a debug build (default: release). CARGO_TARGET_DIR is honoured.
# The test server runs with fsync=off (as in the tests): the commit latency is the
# database's work, not the disk's; SQLite runs WAL with synchronous=NORMAL (no fsync per
# commit either).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000}"
SERVICES="${2:-150}"
PROFILE="${BENCH_PROFILE:-release}"
if [ "$PROFILE" = release ]; then FLAG=--release; else FLAG=; fi
cargo run -q $FLAG -p winv-store --example store_bench -- "$N" "$SERVICES"
