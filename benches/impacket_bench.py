"""Benchmark helper (not a test): impacket, one DCOMConnection, every query of a file.

Usage: impacket_bench.py HOST QUERIES_FILE; user from BENCH_USER (DOMAIN\\user, default
LAB\\admin), password from the environment variable BENCH_PASSWORD (never argv).
Drives the same calls as impacket's wmiquery.py: IWbemLevel1Login.NTLMLogin to
//./root/cimv2, then per query IWbemServices.ExecQuery and IEnumWbemClassObject.Next(
0xffffffff, 1) until S_FALSE, getProperties() of each object, RemRelease of the enumerator.
Packet privacy. Prints one JSON line like the other helpers: connect_s, wall_s and
cpu_s (user+system of this process, time.process_time) of the query loop, rows, row_counts.

impacket re-authenticates (alter_context with a new NTLM context) on every change of
interface, about three per query; the simulator's DCE/RPC server keeps at most 16
security contexts per association and closes it after that, so by default a new
DCOMConnection is made every BENCH_IMPACKET_CHUNK (default 4) queries. The connects are
timed apart (connect_s is their sum, sessions their number) and are not in wall_s/cpu_s,
so the per-query figures are those of one long session. BENCH_IMPACKET_CHUNK=0: one
session for everything (fails after ~5 queries against the simulator as of this writing).
"""
import json
import os
import sys
import time

from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import DCOMConnection
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY


def cpu():
    return time.process_time()  # user+system of this process, ns resolution


def run_query(services, q):
    n = 0
    enum = services.ExecQuery(q)
    while True:
        try:
            objs = enum.Next(0xFFFFFFFF, 1)
        except Exception as e:  # impacket raises on S_FALSE at the end
            if "S_FALSE" in str(e) or getattr(e, "error_code", None) == 1:
                break
            raise
        if not objs:
            break
        for obj in objs:
            obj.getProperties()
            n += 1
    enum.RemRelease()
    return n


def main():
    host, qfile = sys.argv[1:3]
    queries = [l.strip() for l in open(qfile) if l.strip()]
    domain, _, user = os.environ.get("BENCH_USER", "LAB\\admin").rpartition("\\")
    password = os.environ["BENCH_PASSWORD"]
    chunk = int(os.environ.get("BENCH_IMPACKET_CHUNK", "4")) or len(queries)
    connect_s = wall_s = cpu_s = 0.0
    counts, errors, sessions = [], 0, 0
    for start in range(0, len(queries), chunk):
        t0 = time.perf_counter()
        dcom = DCOMConnection(host, user, password, domain, "", "", None, oxidResolver=True,
                              authLevel=RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
        try:
            iface = dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login)
            login = wmi.IWbemLevel1Login(iface)
            services = login.NTLMLogin("//./root/cimv2", NULL, NULL)
            connect_s += time.perf_counter() - t0
            sessions += 1
            c0, t1 = cpu(), time.perf_counter()
            for q in queries[start:start + chunk]:
                try:
                    counts.append(run_query(services, q))
                except Exception as e:
                    print("impacket_bench: %s: %s" % (q, e), file=sys.stderr)
                    counts.append(0)
                    errors += 1
            wall_s += time.perf_counter() - t1
            cpu_s += cpu() - c0
        finally:
            try:
                dcom.disconnect()
            except Exception as e:
                print("impacket_bench: disconnect: %s" % e, file=sys.stderr)
    print(json.dumps({"client": "impacket", "connect_s": connect_s, "wall_s": wall_s,
                      "cpu_s": cpu_s, "queries": len(queries), "rows": sum(counts),
                      "errors": errors, "sessions": sessions,
                      "row_counts": counts}))


if __name__ == "__main__":
    main()
