"""Benchmark helper (not a test) of benches/scan_fleet.sh. Four subcommands:

  fleet WORK COUNT SEED
      Writes WORK/fleet.toml: COUNT hosts, 80 % healthy ([mix] from 127.1.0.1, seven OS
      profiles) and 20 % faulty ([[host]] blocks from 127.3.0.1, one block per fault kind
      of FAULTS below, so that every address's fault is known); WORK/silent.txt: COUNT/10
      addresses from 127.2.0.1 that the caller makes silent (iptables DROP of SYNs);
      WORK/targets.txt: all of them shuffled with SEED; WORK/groups.json: address -> group;
      WORK/sample.txt: healthy addresses for the impacket peer.
  run OUT -- COMMAND...
      Runs COMMAND (its stdout to OUT.stdout, stderr to OUT.stderr), samples its VmRSS,
      open files, threads and output lines every 0.25 s, and writes OUT (JSON): wall_s,
      user_s, sys_s and max_rss_kib of that one child (os.wait4), exit status, samples.
  impacket N
      (run with the venv's python) Inventories the first N addresses of sample.txt in
      order, one DCOMConnection per host, packet privacy, the WMI classes of the standard
      profile (crates/winv-engine/src/profile.rs) with getProperties() of every object, as
      impacket's wmiquery.py does. Prints one JSON line: wall_s, cpu_s (process_time of
      the loop, imports excluded), hosts_ok, rows, errors. User in BENCH_USER, password in
      BENCH_PASSWORD (never argv). Addresses from the file named by BENCH_SAMPLE.
  report WORK CONCURRENCY CONNECT_TIMEOUT
      Reads WORK/{scan.json,scan.db,scan.json.stdout,silent.json,silent.db,impacket.json,
      groups.json} and prints the results, and the checks: one result per target, the JSON
      lines agree with the database, and each fault group's statuses against what the
      fault should give. Exit status 1 when a check fails.
"""
import ipaddress
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time

PROFILES = ["server-2012r2", "server-2016", "server-2019", "server-2022", "server-2025",
            "windows-10", "windows-11"]

# (group, share of COUNT in %, fault TOML, the status it should end with, the attempts it
# should take (None: not checked)). The shares add up to 20 %.
FAULTS = [
    ("wrong_password", 2.0, '{ kind = "wrong_password" }', "access-denied", 1),
    ("unknown_user", 1.0, '{ kind = "unknown_user" }', "access-denied", 1),
    ("dcom_access_denied", 2.0, '{ kind = "dcom_access_denied" }', "access-denied", 1),
    ("wmi_access_denied", 1.0, '{ kind = "wmi_access_denied", namespace = "root\\\\cimv2" }',
     "access-denied", 1),
    ("rpc_call_failed_activation_x1", 2.0,
     '{ kind = "rpc_call_failed", call = "RemoteCreateInstance", first_attempts = 1 }',
     "inventoried", 2),
    ("rpc_call_failed_bios_x3", 1.0,
     '{ kind = "rpc_call_failed", call = "ExecQuery:Win32_BIOS", first_attempts = 3 }',
     "inventoried", 4),
    ("rpc_call_failed_login_permanent", 1.0, '{ kind = "rpc_call_failed", call = "NTLMLogin" }',
     "rpc-call-failed", 4),
    ("call_cancelled_service_x1", 1.0,
     '{ kind = "call_cancelled", call = "ExecQuery:Win32_Service", first_attempts = 1 }',
     "inventoried", 2),
    ("connection_reset_disk_x1", 0.5,
     '{ kind = "connection_reset", call = "ExecQuery:Win32_LogicalDisk", first_attempts = 1 }',
     "inventoried", 2),
    ("invalid_class_qfe", 2.0, '{ kind = "invalid_class", class = "Win32_QuickFixEngineering" }',
     "inventoried-incomplete", 1),
    ("provider_failure_service", 1.0, '{ kind = "provider_failure", class = "Win32_Service" }',
     "inventoried-incomplete", 1),
    ("provider_slow_processor_1s", 2.0,
     '{ kind = "provider_slow", class = "Win32_Processor", delay_ms = 1000 }', "inventoried", 1),
    ("provider_hang_memory", 0.5, '{ kind = "provider_hang", class = "Win32_PhysicalMemory" }',
     "inventoried-incomplete", 1),
    ("dynamic_port_silent", 1.0, '{ kind = "dynamic_port_silent" }', None, None),
    ("shutting_down", 1.0, '{ kind = "shutting_down", after_ms = 0 }',
     "computer-shutting-down", 4),
    ("stdregprov_invalid_namespace", 0.5,
     '{ kind = "invalid_namespace", namespace = "root\\\\default" }',
     "stdregprov-namespace-invalid", 1),
    ("dcom_disabled", 0.5, '{ kind = "dcom_disabled" }', None, None),
]
EXPECTED = {g: (s, a) for g, _, _, s, a in FAULTS}
EXPECTED["healthy"] = ("inventoried", 1)
EXPECTED["silent"] = ("connection-timeout", None)

HEALTHY_START = ipaddress.IPv4Address("127.1.0.1")
SILENT_START = ipaddress.IPv4Address("127.2.0.1")
FAULT_BASE = ipaddress.IPv4Address("127.3.0.1")


def cmd_fleet(work, count, seed):
    count, seed = int(count), int(seed)
    groups = {}
    blocks = []
    nfaulty = 0
    for i, (group, pct, fault, _, _) in enumerate(FAULTS):
        n = round(count * pct / 100)
        if n == 0:
            continue
        start = FAULT_BASE + i * 1024  # 4 /24s apart: room for 1,020 hosts per kind
        blocks.append((group, start, n, fault, PROFILES[i % len(PROFILES)]))
        for k in range(n):
            groups[str(start + k)] = group
        nfaulty += n
    nhealthy = count - nfaulty
    for k in range(nhealthy):
        groups[str(HEALTHY_START + k)] = "healthy"
    silent = [str(SILENT_START + k) for k in range(count // 10)]
    for a in silent:
        groups[a] = "silent"
    with open(os.path.join(work, "fleet.toml"), "w") as f:
        f.write('[defaults]\nuser = "LAB\\\\admin"\npassword_env = "BENCH_PASSWORD"\n'
                'seed = 1\nname_pattern = "H{a}"\n\n')
        for group, start, n, fault, profile in blocks:
            f.write('# %s\n[[host]]\naddress = "%s"\ncount = %d\nprofile = "%s"\n'
                    'faults = [%s]\n\n' % (group, start, n, profile, fault))
        f.write('[mix]\nstart = "%s"\ncount = %d\nseed = 1\nprofiles = %s\nfaults = []\n'
                % (HEALTHY_START, nhealthy, json.dumps(PROFILES)))
    targets = list(groups)
    rng = random.Random(seed)
    rng.shuffle(targets)
    with open(os.path.join(work, "targets.txt"), "w") as f:
        f.write("\n".join(targets) + "\n")
    with open(os.path.join(work, "silent.txt"), "w") as f:
        f.write("\n".join(silent) + "\n")
    with open(os.path.join(work, "groups.json"), "w") as f:
        json.dump(groups, f)
    healthy = [a for a in targets if groups[a] == "healthy"]
    with open(os.path.join(work, "sample.txt"), "w") as f:
        f.write("\n".join(healthy[:1000]) + "\n")
    print("fleet: %d hosts (%d healthy, %d faulty in %d kinds), %d silent addresses, "
          "%d targets (shuffled, seed %d)" % (count, nhealthy, nfaulty, len(blocks),
                                              len(silent), len(targets), seed))


def proc_sample(pid):
    rss = threads = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None
    return rss, fds, threads


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def cmd_run(out, argv):
    if argv and argv[0] == "--":
        argv = argv[1:]
    stdout = open(out + ".stdout", "wb")
    stderr = open(out + ".stderr", "wb")
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr)
    samples = []
    status = None
    while status is None:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            status = (st, ru)
            break
        s = proc_sample(p.pid)
        if s is not None:
            samples.append([round(time.perf_counter() - t0, 2), s[0], s[1], s[2],
                            count_lines(out + ".stdout")])
        time.sleep(0.25)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status[0])  # reaped by wait4 above
    ru = status[1]
    res = {"argv": argv, "exit": p.returncode, "wall_s": wall, "user_s": ru.ru_utime,
           "sys_s": ru.ru_stime, "max_rss_kib": ru.ru_maxrss,
           "samples": samples}  # [t, VmRSS KiB, open fds, threads, output lines]
    with open(out, "w") as f:
        json.dump(res, f)
    print("%s: exit %d, wall %.2f s, user %.2f s, sys %.2f s, peak RSS %.1f MiB" % (
        os.path.basename(argv[0]), p.returncode, wall, ru.ru_utime, ru.ru_stime,
        ru.ru_maxrss / 1024))
    return 0


# The standard profile's WMI items (crates/winv-engine/src/profile.rs), in its order.
STANDARD_WQL = [
    "SELECT * FROM Win32_ComputerSystem",
    "SELECT * FROM Win32_OperatingSystem",
    "SELECT * FROM Win32_BIOS",
    "SELECT * FROM Win32_Processor",
    "SELECT * FROM Win32_PhysicalMemory",
    "SELECT * FROM Win32_LogicalDisk",
    "SELECT * FROM Win32_DiskDrive",
    "SELECT * FROM Win32_NetworkAdapterConfiguration WHERE IPEnabled = TRUE",
    "SELECT * FROM Win32_QuickFixEngineering",
    "SELECT * FROM Win32_Service",
    "SELECT * FROM Win32_SystemEnclosure",
]


def cmd_impacket(n):
    from impacket.dcerpc.v5.dcom import wmi
    from impacket.dcerpc.v5.dcomrt import DCOMConnection
    from impacket.dcerpc.v5.dtypes import NULL
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    def rows_of(services, q):
        count = 0
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
                count += 1
        enum.RemRelease()
        return count

    hosts = [l.strip() for l in open(os.environ["BENCH_SAMPLE"]) if l.strip()][:int(n)]
    domain, _, user = os.environ.get("BENCH_USER", "LAB\\admin").rpartition("\\")
    password = os.environ["BENCH_PASSWORD"]
    ok = rows = errors = 0
    per_host = []
    c0, t0 = time.process_time(), time.perf_counter()
    for h in hosts:
        t1 = time.perf_counter()
        dcom = None
        try:
            dcom = DCOMConnection(h, user, password, domain, "", "", None, oxidResolver=True,
                                  authLevel=RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
            iface = dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login)
            iface.get_cinstance().set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
            login = wmi.IWbemLevel1Login(iface)
            services = login.NTLMLogin("//./root/cimv2", NULL, NULL)
            for q in STANDARD_WQL:
                rows += rows_of(services, q)
            ok += 1
        except Exception as e:
            errors += 1
            print("impacket: %s: %s" % (h, e), file=sys.stderr)
        finally:
            if dcom is not None:
                try:
                    dcom.disconnect()
                except Exception as e:
                    print("impacket: %s: disconnect: %s" % (h, e), file=sys.stderr)
        per_host.append(round(time.perf_counter() - t1, 3))
    print(json.dumps({"client": "impacket", "hosts": len(hosts), "hosts_ok": ok,
                      "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                      "rows": rows, "errors": errors, "per_host_s": per_host}))
    return 0


def load(path):
    with open(path) as f:
        return json.load(f)


def json_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
    return out


def cmd_report(work, concurrency, connect_timeout):
    concurrency, connect_timeout = int(concurrency), float(connect_timeout)
    p = lambda name: os.path.join(work, name)
    groups = load(p("groups.json"))
    scan = load(p("scan.json"))
    lines = json_lines(p("scan.json.stdout"))
    db = sqlite3.connect(p("scan.db"))
    run_id, started_ms, finished_ms = db.execute(
        "SELECT id, started_ms, finished_ms FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    computers = {t: (s, c, n) for t, s, c, n in db.execute(
        "SELECT target, status, code_name, (SELECT count(*) FROM attempts a "
        "WHERE a.computer_id = computers.id) FROM computers WHERE run_id = ?", (run_id,))}
    fails = []
    ntargets = len(groups)
    nsilent = sum(1 for g in groups.values() if g == "silent")

    # One result per target, JSON lines and database agreeing.
    json_status = {}
    for l in lines:
        if l["target"] in json_status:
            fails.append("duplicate JSON line for %s" % l["target"])
        json_status[l["target"]] = l["status"]
    if len(json_status) != ntargets:
        fails.append("%d JSON lines for %d targets" % (len(json_status), ntargets))
    if len(computers) != ntargets:
        fails.append("%d computers in the database for %d targets" % (len(computers), ntargets))
    differ = [t for t, s in json_status.items() if computers.get(t, (None,))[0] != s]
    if differ:
        fails.append("%d targets whose JSON status differs from the database's (e.g. %s)"
                     % (len(differ), differ[0]))
    # The run completed: 0 when every computer was inventoried, 7 when some failed (the
    # fleet has faulty hosts), as `winventory --help` lists; builds older than that table
    # exited 0 either way.
    if scan["exit"] not in (0, 7):
        fails.append("the scanner exited with %d" % scan["exit"])

    wall = scan["wall_s"]
    cpu = scan["user_s"] + scan["sys_s"]
    counts = {}
    for s, _, _ in computers.values():
        counts[s] = counts.get(s, 0) + 1
    inventoried = counts.get("inventoried", 0) + counts.get("inventoried-incomplete", 0)

    print("\n== full scan: %d targets (%d hosts + %d silent addresses), concurrency %d, "
          "connect timeout %g s" % (ntargets, ntargets - nsilent, nsilent, concurrency,
                                    connect_timeout))
    print("wall                       %8.2f s" % wall)
    print("hosts per second           %8.1f   (all targets / wall)" % (ntargets / wall))
    print("scanner CPU (user+sys)     %8.2f s  (user %.2f, sys %.2f)" % (
        cpu, scan["user_s"], scan["sys_s"]))
    print("CPU per inventoried host   %8.2f ms (%d inventoried or incomplete)" % (
        1000 * cpu / max(inventoried, 1), inventoried))
    print("peak RSS of the scanner    %8.1f MiB" % (scan["max_rss_kib"] / 1024))
    smp = scan["samples"]
    if smp:
        print("open files max %d, threads max %d (sampled every 0.25 s)" % (
            max(s[2] for s in smp), max(s[3] for s in smp)))
        print("timeline (s: finished computers, VmRSS MiB, open files):")
        step = max(1, len(smp) // 12)
        pts = smp[::step] + ([smp[-1]] if (len(smp) - 1) % step else [])
        print("  " + "  ".join("%.0f: %d, %.0f, %d" % (s[0], s[4], s[1] / 1024, s[2])
                               for s in pts))
    fin = sorted(ms for (ms,) in db.execute(
        "SELECT finished_ms FROM computers WHERE run_id = ?", (run_id,)))
    if fin:
        q = lambda f: (fin[min(len(fin) - 1, int(f * len(fin)))] - started_ms) / 1000
        print("computers finished by (s after the run's start): 10%% %.1f, 50%% %.1f, "
              "90%% %.1f, 99%% %.1f, 100%% %.1f" % (q(0.1), q(0.5), q(0.9), q(0.99), q(1.0)))
        if q(0.9) > q(0.1):
            print("steady rate (10%% to 90%% of the computers): %.1f computers/s" % (
                0.8 * len(fin) / (q(0.9) - q(0.1))))
    print("statuses:")
    for s, n in sorted(counts.items(), key=lambda x: -x[1]):
        print("  %-32s %6d" % (s, n))
    att = dict(db.execute("SELECT n, count(*) FROM (SELECT count(*) n FROM attempts "
                          "WHERE run_id = ? GROUP BY computer_id) GROUP BY n", (run_id,)))
    print("attempts per computer: " + ", ".join("%d: %d" % kv for kv in sorted(att.items())))

    # Each group against what its fault should give.
    print("by group (status x computers, attempts, code):")
    by_group = {}
    for t, (s, code, n) in computers.items():
        g = groups.get(t, "?")
        key = (s, n, code or "")
        by_group.setdefault(g, {}).setdefault(key, 0)
        by_group[g][key] += 1
    for g in ["healthy", "silent"] + [f[0] for f in FAULTS]:
        if g not in by_group:
            continue
        want_s, want_n = EXPECTED.get(g, (None, None))
        parts = []
        for (s, n, code), k in sorted(by_group[g].items(), key=lambda x: -x[1]):
            bad = (want_s is not None and s != want_s) or (want_n is not None and n != want_n)
            parts.append("%s%s x%d, %d att%s" % ("!" if bad else "", s, k, n,
                                                  ", " + code if code else ""))
            if bad:
                fails.append("group %s: %d computers %s after %d attempts (expected %s%s)" % (
                    g, k, s, n, want_s, "" if want_n is None else " after %d" % want_n))
        print("  %-32s %s" % (g, "; ".join(parts)))

    # Silent addresses against the floor.
    silent = [t for t, g in groups.items() if g == "silent"]
    q = ",".join("?" * len(silent))
    silent_ms = db.execute("SELECT coalesce(sum(duration_ms), 0), count(*), "
                           "coalesce(max(duration_ms), 0), coalesce(min(duration_ms), 0) "
                           "FROM attempts WHERE run_id = ? AND target IN (%s)" % q,
                           [run_id] + silent).fetchone()
    floor = len(silent) * connect_timeout / concurrency
    print("\n== silent addresses: %d x %g s / %d = floor %.2f s" % (
        len(silent), connect_timeout, concurrency, floor))
    print("in the full scan: sum of their %d attempts' durations / concurrency = %.2f s "
          "(%.2fx the floor; attempt min %d ms, max %d ms)" % (
              silent_ms[1], silent_ms[0] / 1000 / concurrency,
              silent_ms[0] / 1000 / concurrency / floor if floor else 0, silent_ms[3],
              silent_ms[2]))
    if os.path.exists(p("silent.json")):
        sj = load(p("silent.json"))
        sdb = sqlite3.connect(p("silent.db"))
        sc = dict(sdb.execute("SELECT status, count(*) FROM computers GROUP BY status"))
        print("silent-only run: wall %.2f s (%.2fx the floor; %d waves of %d: %.0f s), CPU %.2f s, "
              "peak RSS %.1f MiB, statuses %s" % (
                  sj["wall_s"], sj["wall_s"] / floor if floor else 0,
                  -(-len(silent) // concurrency), concurrency,
                  -(-len(silent) // concurrency) * connect_timeout,
                  sj["user_s"] + sj["sys_s"], sj["max_rss_kib"] / 1024, sc))
        if sc != {"connection-timeout": len(silent)}:
            fails.append("silent-only run: statuses %s" % sc)

    # The peer.
    if os.path.exists(p("impacket.json")) and os.path.getsize(p("impacket.json")):
        im = load(p("impacket.json"))
        print("\n== impacket 0.13.1, %d healthy hosts one after the other (one DCOMConnection "
              "each, the %d WMI classes of the standard profile, no registry items)" % (
                  im["hosts"], len(STANDARD_WQL)))
        ok = max(im["hosts_ok"], 1)
        ihps = im["hosts_ok"] / im["wall_s"]
        icpu = im["cpu_s"] / ok
        print("impacket: %d/%d hosts ok, %d rows, %.2f s wall -> %.2f hosts/s, %.1f ms CPU "
              "per host (median host %.2f s)" % (
                  im["hosts_ok"], im["hosts"], im["rows"], im["wall_s"], ihps, 1000 * icpu,
                  statistics.median(im["per_host_s"]) if im["per_host_s"] else 0))
        whps = ntargets / wall
        wcpu = cpu / max(inventoried, 1)
        print("ratios winventory/impacket: hosts/s %.0fx (winventory over the whole faulty "
              "fleet, concurrently; impacket sequentially, healthy hosts only), CPU per host "
              "%.3fx (impacket/winventory %.0fx)" % (whps / ihps, wcpu / icpu, icpu / wcpu))
        if im["errors"]:
            fails.append("impacket: %d hosts failed" % im["errors"])

    if fails:
        print("\nCHECKS FAILED:")
        for f in fails:
            print("  " + f)
        return 1
    print("\nchecks: one result per target, JSON = database, every group as expected")
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fleet":
        return cmd_fleet(*args)
    if cmd == "run":
        return cmd_run(args[0], args[1:])
    if cmd == "impacket":
        return cmd_impacket(*args)
    if cmd == "report":
        return cmd_report(*args)
    print("scan_stats.py: unknown command %s" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main() or 0)
