"""Drives aiowmi's asyncio WMI client against one host and prints what it got as JSON.

Usage: aiowmi_query.py HOST DOMAIN USER NAMESPACE QUERY [QUERY...]
The password comes from the environment variable WINV_TEST_PASSWORD (never argv).
Prints {"results": [{"query": ..., "rows": [{prop: value}], "optimized": bool,
"error": null|"..."}]}; values aiowmi decodes to Python objects other than
str/int/bool/list/None (datetimes, timedeltas) print as {"repr": str(value)}.
Set WINV_TEST_SLOW=1 to skip the smart enumerator (IEnumWbemClassObject::Next).
Exit status 0 unless the connection itself failed (then {"connect_error": ...}, 3).
"""
import asyncio
import json
import os
import sys

from aiowmi.connection import Connection
from aiowmi.qcontext import QContext
from aiowmi.query import Query


def plain(v):
    if v is None or isinstance(v, (str, int, bool, float)):
        return v
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return {"repr": str(v)}


def describe(e):
    return "%s: %s" % (type(e).__name__, e)


async def run(host, domain, user, namespace, queries, password):
    conn = Connection(host, user, password, domain=domain)
    service = None
    await conn.connect(timeout=20)
    try:
        service = await conn.negotiate_ntlm()
        results = []
        for q in queries:
            query = Query(q, namespace=namespace)
            rows = []
            optimized = False
            try:
                skip = os.environ.get("WINV_TEST_SLOW") == "1"
                async with query.context(conn, service, skip_optimize=skip) as qc:
                    # QContext.is_optimized compares bound methods with `is` and so is
                    # always False; compare the underlying function instead.
                    optimized = getattr(qc.next, "__func__", None) is QContext._next_smart
                    async for props in qc.results():
                        rows.append({name: plain(p.value) for name, p in props.items()})
                results.append({"query": q, "rows": rows, "optimized": optimized,
                                "error": None})
            except Exception as e:
                results.append({"query": q, "rows": rows, "optimized": optimized,
                                "error": describe(e)})
        return results
    finally:
        if service is not None:
            service.close()
        conn.close()


def main():
    host, domain, user, namespace = sys.argv[1:5]
    queries = sys.argv[5:]
    password = os.environ["WINV_TEST_PASSWORD"]
    try:
        results = asyncio.run(run(host, domain, user, namespace, queries, password))
    except Exception as e:
        print(json.dumps({"connect_error": describe(e)}))
        return 3
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
