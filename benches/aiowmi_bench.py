"""Benchmark helper (not a test): aiowmi, one connection, every query of a file.

Usage: aiowmi_bench.py HOST QUERIES_FILE; user from BENCH_USER (DOMAIN\\user, default
LAB\\admin), password from the environment variable BENCH_PASSWORD (never argv).
One Connection and one negotiate_ntlm() session (packet privacy, aiowmi's only level),
then per query Query(...).context(): ExecQuery, the smart enumerator
(IWbemFetchSmartEnum, aiowmi's default "optimize") and its Next until the end, each row's
properties read. Prints one JSON line like the other helpers.
"""
import asyncio
import json
import os
import sys
import time

from aiowmi.connection import Connection
from aiowmi.query import Query


def cpu():
    return time.process_time()  # user+system of this process, ns resolution


async def run(host, queries, domain, user, password):
    t0 = time.perf_counter()
    conn = Connection(host, user, password, domain=domain)
    service = None
    await conn.connect(timeout=20)
    try:
        service = await conn.negotiate_ntlm()
        connect_s = time.perf_counter() - t0
        c0, t1 = cpu(), time.perf_counter()
        counts, errors = [], 0
        for q in queries:
            n = 0
            try:
                async with Query(q, namespace="root/cimv2").context(conn, service) as qc:
                    async for props in qc.results():
                        for p in props.values():
                            p.value
                        n += 1
            except Exception as e:
                print("aiowmi_bench: %s: %s: %s" % (q, type(e).__name__, e), file=sys.stderr)
                errors += 1
            counts.append(n)
        wall_s, cpu_s = time.perf_counter() - t1, cpu() - c0
    finally:
        if service is not None:
            service.close()
        conn.close()
    return {"client": "aiowmi", "connect_s": connect_s, "wall_s": wall_s, "cpu_s": cpu_s,
            "queries": len(queries), "rows": sum(counts), "errors": errors,
            "row_counts": counts}


def main():
    host, qfile = sys.argv[1:3]
    queries = [l.strip() for l in open(qfile) if l.strip()]
    domain, _, user = os.environ.get("BENCH_USER", "LAB\\admin").rpartition("\\")
    print(json.dumps(asyncio.run(run(host, queries, domain, user, os.environ["BENCH_PASSWORD"]))))


if __name__ == "__main__":
    main()
