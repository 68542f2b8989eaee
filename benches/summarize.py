"""Summarizes the JSON lines of benches/wmi_queries.sh: the median over the repetitions of
each client's wall and CPU time per query, the simulator's CPU per query while that
client ran, the row check (the same row count for every query across clients) and the
ratios against winventory's library session. Usage: summarize.py RESULTS.jsonl
"""
import json
import statistics
import sys

ORDER = ["winventory-lib", "winventory-cli", "impacket", "aiowmi"]


def main():
    runs = {}
    for line in open(sys.argv[1]):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            runs.setdefault(r["client"], []).append(r)
    med = {}
    print("%-15s %5s %4s %11s %11s %11s %10s %7s %6s" % (
        "client", "reps", "q", "wall ms/q", "cpu ms/q", "sim cpu ms/q", "connect ms",
        "rows", "errors"))
    for c in ORDER + sorted(set(runs) - set(ORDER)):
        rs = runs.get(c)
        if not rs:
            print("%-15s (no result)" % c)
            continue
        q = rs[0]["queries"]
        m = {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "connect_s")}
        m["sim"] = statistics.median(r.get("sim_cpu_s", float("nan")) for r in rs)
        med[c] = m
        print("%-15s %5d %4d %11.3f %11.3f %11.3f %10.1f %7d %6d" % (
            c, len(rs), q, 1000 * m["wall_s"] / q, 1000 * m["cpu_s"] / q,
            1000 * m["sim"] / q, 1000 * m["connect_s"], rs[0]["rows"],
            max(r["errors"] for r in rs)))
    ref_counts = runs["winventory-lib"][0]["row_counts"] if "winventory-lib" in runs else None
    for c, rs in runs.items():
        for r in rs:
            if ref_counts is not None and r["row_counts"] != ref_counts:
                diff = sum(1 for a, b in zip(r["row_counts"], ref_counts) if a != b)
                print("WARNING: %s returned %d rows, winventory-lib %d (%d queries differ)" % (
                    c, r["rows"], sum(ref_counts), diff + abs(len(ref_counts) - len(r["row_counts"]))))
                break
    base = med.get("winventory-lib")
    if base:
        for c in ("winventory-cli", "impacket", "aiowmi"):
            if c in med and runs[c][0]["errors"] == 0:
                print("ratio %s/winventory-lib: wall %.1fx  cpu %.1fx" % (
                    c, med[c]["wall_s"] / base["wall_s"],
                    med[c]["cpu_s"] / base["cpu_s"] if base["cpu_s"] > 0 else float("inf")))
            elif c in med:
                print("ratio %s/winventory-lib: not computed (%s had errors)" % (c, c))


if __name__ == "__main__":
    main()
