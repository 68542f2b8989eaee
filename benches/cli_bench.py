"""Benchmark helper (not a test): one `winventory query` process per query (cold start:
process start, activation, NTLM, NTLMLogin, the query, release, exit).

Usage: cli_bench.py WINVENTORY HOST QUERIES_FILE; user from BENCH_USER, password in the
environment variable BENCH_PASSWORD, handed to winventory with --password-env (left out
when BENCH_PASSWORD is unset: Kerberos from KRB5CCNAME); more options from BENCH_ARGS
(words, e.g. "--auth kerberos --spn host/web1.lab.test").
wall_s covers all the processes; cpu_s is their user+system CPU (RUSAGE_CHILDREN).
Rows are counted from --format json. Prints one JSON line like the other helpers
(connect_s is 0: every process connects on its own, inside wall_s).
"""
import json
import os
import resource
import subprocess
import sys
import time


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    exe, host, qfile = sys.argv[1:4]
    queries = [l.strip() for l in open(qfile) if l.strip()]
    user = os.environ.get("BENCH_USER", "LAB\\admin")
    c0, t0 = child_cpu(), time.perf_counter()
    counts, errors = [], 0
    for q in queries:
        argv = [exe, "query", host, q, "--user", user, "--format", "json"]
        if "BENCH_PASSWORD" in os.environ:
            argv += ["--password-env", "BENCH_PASSWORD"]
        argv += os.environ.get("BENCH_ARGS", "").split()
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            print("cli_bench: %s: exit %d: %s" % (q, p.returncode, p.stderr.strip()),
                  file=sys.stderr)
            errors += 1
            counts.append(0)
            continue
        counts.append(len(json.loads(p.stdout)))
    wall_s, cpu_s = time.perf_counter() - t0, child_cpu() - c0
    print(json.dumps({"client": "winventory-cli", "connect_s": 0.0, "wall_s": wall_s,
                      "cpu_s": cpu_s, "queries": len(queries), "rows": sum(counts),
                      "errors": errors, "row_counts": counts}))


if __name__ == "__main__":
    main()
