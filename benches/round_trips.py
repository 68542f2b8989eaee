#!/usr/bin/env python3
"""Round trips, requests by kind and bytes on the wire of one capture (benchmark helper).

Reads a capture with tshark (JSON, DCE/RPC decoded on the given ports) and prints:
- TCP connections, frames and bytes in each direction;
- every DCE/RPC request and bind by interface and method (the interface from the
  presentation context its bind or alter_context proposed, [C706] 12.6.3.1);
- the sequential round trips: the time intervals from each request (or bind, or TCP SYN)
  to its answer, merged where they overlap. Calls pipelined or made at once on several
  connections count once: this is the number of network latencies the host costs;
- the time waited for answers: the merged intervals' total length. Calls on several
  connections that overlap only in part chain into one merged interval; with a latency on
  every answer (BENCH_LATENCY_MS), this time over the latency counts them.

Usage: round_trips.py CAPTURE PORT [PORT...] [--json] [--debug]   (benches/round_trips.sh makes the capture)
"""
import json
import subprocess
import sys
from collections import Counter

# [MS-DCOM], [MS-WMI], [MS-RPCE]: interface UUIDs and the method names by opnum.
INTERFACES = {
    "000001a0-0000-0000-c000-000000000046": ("ISystemActivator", {3: "RemoteGetClassObject", 4: "RemoteCreateInstance"}),
    "99fcfec4-5260-101b-bbcb-00aa0021347a": ("IObjectExporter", {0: "ResolveOxid", 1: "SimplePing", 2: "ComplexPing", 3: "ServerAlive", 4: "ResolveOxid2", 5: "ServerAlive2"}),
    "00000131-0000-0000-c000-000000000046": ("IRemUnknown", {3: "RemQueryInterface", 4: "RemAddRef", 5: "RemRelease"}),
    "00000143-0000-0000-c000-000000000046": ("IRemUnknown2", {3: "RemQueryInterface", 4: "RemAddRef", 5: "RemRelease", 6: "RemQueryInterface2"}),
    "f309ad18-d86a-11d0-a075-00c04fb68820": ("IWbemLevel1Login", {3: "EstablishPosition", 4: "RequestChallenge", 5: "WBEMLogin", 6: "NTLMLogin"}),
    "9556dc99-828c-11cf-a37e-00aa003240c7": ("IWbemServices", {3: "OpenNamespace", 6: "GetObject", 20: "ExecQuery", 24: "ExecMethod"}),
    "027947e1-d731-11ce-a357-000000000001": ("IEnumWbemClassObject", {3: "Reset", 4: "Next", 5: "NextAsync", 6: "Clone", 7: "Skip"}),
    "1c1c45ee-4395-11d2-b60b-00104b703efd": ("IWbemFetchSmartEnum", {3: "GetSmartEnum"}),
    "423ec01e-2e35-11d2-b604-00104b703efd": ("IWbemWCOSmartEnum", {3: "Next"}),
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": ("EPM", {3: "ept_map"}),
}
REQUEST, RESPONSE, FAULT, BIND, BIND_ACK, BIND_NAK, ALTER, ALTER_RESP = 0, 2, 3, 11, 12, 13, 14, 15


def pdus(layer):
    if layer is None:
        return []
    return layer if isinstance(layer, list) else [layer]


def contexts(node, out):
    """(ctx_id, uuid) of every presentation context item under `node`."""
    if isinstance(node, dict):
        if "dcerpc.cn_ctx_id" in node:
            uuid = find(node, "dcerpc.cn_bind_to_uuid")
            if uuid:
                out.append((int(node["dcerpc.cn_ctx_id"]), uuid.lower()))
                return
        for v in node.values():
            contexts(v, out)
    elif isinstance(node, list):
        for v in node:
            contexts(v, out)


def find(node, key):
    if isinstance(node, dict):
        if key in node:
            return node[key]
        for v in node.values():
            r = find(v, key)
            if r:
                return r
    elif isinstance(node, list):
        for v in node:
            r = find(v, key)
            if r:
                return r
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    as_json = "--json" in sys.argv
    cap, ports = args[0], args[1:]
    cmd = ["tshark", "-r", cap, "-T", "json", "--no-duplicate-keys", "-J", "frame ip tcp dcerpc"]
    for p in ports:
        cmd += ["-d", f"tcp.port=={p},dcerpc"]
    packets = json.loads(subprocess.run(cmd, capture_output=True, check=True, text=True).stdout or "[]")
    frames = 0
    octets = {"to host": 0, "from host": 0}
    client = None
    ctx = {}  # (stream, ctx_id) -> uuid
    open_calls = {}  # (stream, call_id) -> (start, kind)
    syn = {}  # stream -> time
    intervals = []
    kinds = Counter()
    connections = 0
    for p in packets:
        l = p["_source"]["layers"]
        t = float(l["frame"]["frame.time_relative"])
        length = int(l["frame"]["frame.len"])
        frames += 1
        tcp = l.get("tcp", {})
        stream = tcp.get("tcp.stream")
        flags = int(tcp.get("tcp.flags", "0x0"), 16)
        src = l.get("ip", {}).get("ip.src")
        if flags & 0x12 == 0x02:  # SYN
            client = client or src
            connections += 1
            syn[stream] = t
        elif flags & 0x12 == 0x12 and stream in syn:  # SYN-ACK
            intervals.append((syn.pop(stream), t))
        octets["to host" if src == client else "from host"] += length
        for d in pdus(l.get("dcerpc")):
            ptype = int(d.get("dcerpc.pkt_type", -1))
            call = (stream, d.get("dcerpc.cn_call_id"))
            if ptype in (BIND, ALTER):
                items = []
                contexts(d, items)
                for cid, uuid in items:
                    ctx[(stream, cid)] = uuid
                names = sorted({INTERFACES.get(u, (u, {}))[0] for _, u in items})
                kinds[("bind" if ptype == BIND else "alter_context", "+".join(names))] += 1
                open_calls[call] = t
            elif ptype == REQUEST:
                uuid = ctx.get((stream, int(d.get("dcerpc.cn_ctx_id", -1))), "?")
                if "--debug" in sys.argv and uuid == "?":
                    print(stream, d.get("dcerpc.cn_ctx_id"), {k: v for k, v in ctx.items()}, file=sys.stderr)
                iface, methods = INTERFACES.get(uuid, (uuid, {}))
                op = int(d.get("dcerpc.opnum", -1))
                # Only the first fragment of a request starts a call.
                if call not in open_calls:
                    kinds[(iface, methods.get(op, f"opnum {op}"))] += 1
                    open_calls[call] = t
            elif ptype in (RESPONSE, FAULT, BIND_ACK, BIND_NAK, ALTER_RESP):
                last = int(d.get("dcerpc.cn_flags", "0x0"), 16) & 0x02
                if call in open_calls and last:
                    intervals.append((open_calls.pop(call), t))
    intervals.sort()
    # waves: merged intervals; waited: their total length (a chain of calls that overlap
    # only in part is one wave but several latencies: on a WAN, waited / latency counts them).
    waves, start, end, waited = 0, None, None, 0.0
    for s, e in intervals:
        if end is None or s >= end:
            if end is not None:
                waited += end - start
            waves += 1
            start, end = s, e
        else:
            end = max(end, e)
    if end is not None:
        waited += end - start
    requests = sum(n for (k, _), n in kinds.items() if k not in ("bind", "alter_context"))
    out = {
        "tcp_connections": connections,
        "frames": frames,
        "bytes_to_host": octets["to host"],
        "bytes_from_host": octets["from host"],
        "requests": requests,
        "binds": sum(n for (k, _), n in kinds.items() if k in ("bind", "alter_context")),
        "sequential_round_trips": waves,
        "waited_ms": round(waited * 1000, 1),
        "by_kind": {f"{i} {m}": n for (i, m), n in sorted(kinds.items(), key=lambda kv: -kv[1])},
    }
    if as_json:
        print(json.dumps(out, indent=1))
        return
    print(f"tcp connections {connections}, frames {frames}, bytes to host {octets['to host']}, "
          f"from host {octets['from host']} ({(octets['to host'] + octets['from host']) / 1024:.0f} KiB)")
    print(f"requests {requests}, binds and alter_contexts {out['binds']}, "
          f"sequential round trips {waves} (TCP handshakes, binds and calls; overlapping ones once)")
    print(f"waited for answers {waited * 1000:.0f} ms (the merged intervals' length: over the simulator's "
          f"BENCH_LATENCY_MS, the latencies the host costs)")
    for k, n in out["by_kind"].items():
        print(f"{n:6d}  {k}")


if __name__ == "__main__":
    main()
