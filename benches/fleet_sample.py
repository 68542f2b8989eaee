"""Benchmark helper (not a test) of benches/sim_fleet.sh: TCP connects to port 135 of a
random sample of the fleet's hosts and runs a full WMI query with `winventory query` on
some of them, checking that each answers with its own host name.

Usage: fleet_sample.py WINVENTORY FIRST_ADDR COUNT CONNECTS QUERIES SEED
Host n (from 0) is FIRST_ADDR + n; its name is "H" + its address with "-" for "." (the
fleet file's name_pattern "H{a}"). Password in BENCH_PASSWORD, user in BENCH_USER.
"""
import ipaddress
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time


def main():
    exe, first, count, n_conn, n_query, seed = sys.argv[1:7]
    first, count = ipaddress.IPv4Address(first), int(count)
    rng = random.Random(int(seed))
    sample = [str(first + i) for i in rng.sample(range(count), int(n_conn))]
    fails = []
    lat = []
    for a in sample:
        t0 = time.perf_counter()
        try:
            with socket.create_connection((a, 135), timeout=5):
                pass
            lat.append(time.perf_counter() - t0)
        except OSError as e:
            fails.append("connect %s: %s" % (a, e))
    print("tcp connect: %d/%d ok, median %.3f ms, max %.3f ms" % (
        len(lat), len(sample), 1000 * statistics.median(lat) if lat else 0,
        1000 * max(lat) if lat else 0))
    qlat = []
    user = os.environ.get("BENCH_USER", "LAB\\admin")
    for a in sample[:int(n_query)]:
        want = "H" + a.replace(".", "-")
        t0 = time.perf_counter()
        p = subprocess.run([exe, "query", a, "SELECT Caption, CSName FROM Win32_OperatingSystem",
                            "--user", user, "--password-env", "BENCH_PASSWORD", "--format", "json",
                            "--timeout", "20"], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            fails.append("query %s: exit %d: %s" % (a, p.returncode, p.stderr.strip()[:200]))
            continue
        rows = json.loads(p.stdout)
        got = [r.get("CSName") for r in rows]
        if got != [want]:
            fails.append("query %s: CSName %s, expected [%r]" % (a, got, want))
            continue
        qlat.append(dt)
        print("  %-15s %-14s %-45s %7.1f ms" % (a, want, rows[0].get("Caption"), 1000 * dt))
    if qlat:
        print("wmi query (one winventory process each, cold): %d/%d ok, median %.1f ms, "
              "min %.1f ms, max %.1f ms" % (len(qlat), int(n_query), 1000 * statistics.median(qlat),
                                           1000 * min(qlat), 1000 * max(qlat)))
    print("failures: %d" % len(fails))
    for f in fails:
        print("  FAIL " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
