#!/usr/bin/env python3
"""Groups a flat `perf report` of the scanner into where the CPU goes (benchmark helper).

Reads `perf report --stdio --no-children --sort dso,sym -F overhead,dso,sym` on standard
input and prints the share of samples per group: the kernel (syscalls, TCP on the
loopback), crypto, DCE/RPC and NTLM framing, NDR, MS-WMIO decoding, JSON, SQLite, memory
(allocator, copies), tokio's scheduler, the rest of the client, and what is left. The
first matching rule wins; the top symbols of "other" are listed so the rules can grow.

Usage: perf report ... | benches/profile_groups.py      (benches/scan_fleet.sh with
       BENCH_PERF=FILE records the profile; see benches/README.md)
"""
import re
import sys
from collections import defaultdict

RULES = [
    ("kernel", lambda d, s: "kernel" in d or s.startswith("[k]")),
    ("crypto (RC4, MD5, HMAC, AES, CRC)", lambda d, s: re.search(r"rc4|md5|md4|hmac|sha[12]|aes|crc32|cipher|winv_auth::(ntlm::)?(seal|sign|crypto)|digest", s, re.I)),
    ("SQLite", lambda d, s: "sqlite" in s.lower() or "sqlx" in s),
    ("JSON (serde_json)", lambda d, s: "serde_json" in s or "serde::" in s),
    ("MS-WMIO decoding", lambda d, s: "winv_wmio" in s),
    ("NDR and DCOM stubs", lambda d, s: re.search(r"winv_ndr|winv_dcom|winv_wmi::", s)),
    ("DCE/RPC and NTLM framing", lambda d, s: re.search(r"winv_dcerpc|winv_auth|winv_rpc", s)),
    ("memory (allocator, copies)", lambda d, s: re.search(r"malloc|free|realloc|memcpy|memmove|memset|alloc::|_int_|cfree|arena|RawVec|drop_in_place", s)),
    ("tokio and futures", lambda d, s: re.search(r"tokio|futures|mio::|parking_lot|std::sync|pthread|epoll", s)),
    ("engine and store (ours)", lambda d, s: re.search(r"winv_engine|winv_store|winventory", s)),
    ("client flow (ours)", lambda d, s: "winv_client" in s),
    ("libc other", lambda d, s: "libc" in d),
]


def main():
    groups = defaultdict(float)
    other = defaultdict(float)
    total = 0.0
    for line in sys.stdin:
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(.*)$", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        total += pct
        for name, rule in RULES:
            if rule(dso, sym):
                groups[name] += pct
                break
        else:
            groups["other"] += pct
            other[f"{dso} {sym}"] += pct
    for name, pct in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"{pct:6.1f} %  {name}")
    print(f"{total:6.1f} %  in all")
    print("top of other:")
    for k, v in sorted(other.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {v:5.2f} %  {k[:110]}")


if __name__ == "__main__":
    main()
