//! Network faults and a DNS server for tests, inside a network namespace of
//! the test's own.
//!
//! [`NetLab::enter`] moves the *calling thread* into a private network
//! namespace holding only `lo` (or stays in the one it is already in, e.g.
//! after [`crate::samba::SambaDc::start`]), and then turns addresses into
//! the connect failures of a real network with iptables rules in the
//! `OUTPUT` chain (traffic to 127.0.0.0/8 goes through `lo`, so `OUTPUT` sees
//! the SYN). Nothing leaves the namespace: it has no other interface.
//!
//! Network namespaces belong to threads. Everything that must see the lab
//! (sockets, child processes such as dnsmasq, tokio runtimes) has to be
//! created from the thread that called [`NetLab::enter`]. Threads spawned from
//! that thread inherit its namespace, so a multi-thread tokio runtime *built*
//! on it runs all its workers inside the lab too.
//!
//! What each fault gives a `connect` (measured here, Linux 6.18, both
//! `iptables-nft` and `iptables-legacy`; 127.x, another address on `lo` such
//! as the Samba DC's, and IPv6 alike unless said):
//!
//! | fault                                   | IPv4 errno            | IPv6              |
//! |-----------------------------------------|-----------------------|-------------------|
//! | [`NetLab::drop_tcp`] (`DROP`)           | none: timeout         | same              |
//! | [`NetLab::reject_reset`] (`tcp-reset`)  | `ECONNREFUSED`        | same              |
//! | [`Icmp::HostUnreachable`]               | `EHOSTUNREACH`        | `EHOSTUNREACH` (1)|
//! | [`Icmp::NetUnreachable`]                | `ENETUNREACH`         | `ENETUNREACH` (1) |
//! | [`Icmp::AdminProhibited`]               | `EHOSTUNREACH`        | `EACCES` (1)      |
//!
//! The reset rule matches SYNs only: when the client's source address is the
//! destination itself (any address on `lo` but 127.x, whose source is
//! 127.0.0.1), the reset goes to the same address and a rule matching all of
//! TCP would reject the reset too, leaving a timeout. So a reset refuses new
//! connections; established ones carry on.
//!
//! (1) ip6tables' ICMPv6 `REJECT`s send nothing back over loopback here
//! (the SYN just times out), so for IPv6 [`NetLab::reject_icmp`] installs a
//! route instead (`unreachable`, `throw`, `prohibit`), which only works for
//! an address that is *not* on `lo` (the local table wins); `prohibit` gives
//! `EACCES`, which `winv_rpc::transport` classifies as `Other`. For
//! reference, the same route types on IPv4 give `EHOSTUNREACH`,
//! `ENETUNREACH` and `EACCES`, and a `blackhole` route `EINVAL`; an IPv4
//! address with no route at all gives `ENETUNREACH`.
//!
//! [`Dns`] is a dnsmasq child process, authoritative for one zone.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::fixtures::in_ci;
use crate::samba::{current_netns, enter_private_netns, find_program, tail};

/// How long one `iptables` / `ip` command may take (including the wait for
/// the xtables lock).
const COMMAND_DEADLINE: Duration = Duration::from_secs(10);
/// Seconds `iptables -w` waits for the xtables lock.
const XTABLES_WAIT: &str = "5";
/// How long dnsmasq may take to accept connections.
const DNS_START_DEADLINE: Duration = Duration::from_secs(10);
/// An address no test uses, for the rule that proves iptables works.
const PROBE_ADDR: &str = "127.255.255.254";

/// The ICMP error a rejected SYN gets; see the module table for the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    /// ICMP host unreachable (`EHOSTUNREACH`).
    HostUnreachable,
    /// ICMP network unreachable (`ENETUNREACH`).
    NetUnreachable,
    /// ICMP communication administratively prohibited (`EHOSTUNREACH` on
    /// IPv4, `EACCES` on IPv6).
    AdminProhibited,
}

impl Icmp {
    fn reject_with_v4(self) -> &'static str {
        match self {
            Icmp::HostUnreachable => "icmp-host-unreachable",
            Icmp::NetUnreachable => "icmp-net-unreachable",
            Icmp::AdminProhibited => "icmp-admin-prohibited",
        }
    }

    fn route_type(self) -> &'static str {
        match self {
            Icmp::HostUnreachable => "unreachable",
            Icmp::NetUnreachable => "throw",
            Icmp::AdminProhibited => "prohibit",
        }
    }
}

/// One change the lab made, kept so that [`NetLab::clear`] can undo it.
#[derive(Debug, Clone)]
enum Change {
    /// An iptables rule: the program and the rule spec after `-A OUTPUT`.
    Rule { prog: PathBuf, spec: Vec<String> },
    /// A route: the spec after `ip -6 route add`.
    Route6 { spec: Vec<String> },
}

/// A private network namespace with network faults on demand; see the
/// module documentation.
#[derive(Debug)]
pub struct NetLab {
    netns: String,
    reused: bool,
    ip: PathBuf,
    iptables: PathBuf,
    ip6tables: PathBuf,
    changes: Mutex<Vec<Change>>,
}

/// Prints why we skip and returns `Ok(None)`, or fails under CI.
fn skip<T>(why: &str) -> Result<Option<T>> {
    if in_ci() {
        bail!("prerequisite missing under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
    Ok(None)
}

/// Whether the calling thread is in another network namespace than the
/// process's main thread: one that this thread (or the thread it was spawned
/// from) entered, as [`enter_private_netns`] does.
fn in_private_netns() -> Result<bool> {
    let main = fs::read_link("/proc/self/ns/net").context("read /proc/self/ns/net")?;
    Ok(current_netns()? != main.to_string_lossy())
}

/// Runs `prog args` with a deadline; fails with its stderr.
fn run(prog: &Path, args: &[&str]) -> Result<String> {
    let dir = tempfile::tempdir().context("create temp dir")?;
    let out_path = dir.path().join("out");
    let err_path = dir.path().join("err");
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).context("create stdout file")?)
        .stderr(File::create(&err_path).context("create stderr file")?)
        .spawn()
        .with_context(|| format!("run {}", prog.display()))?;
    let end = Instant::now() + COMMAND_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} {} did not finish within {COMMAND_DEADLINE:?}",
                prog.display(),
                args.join(" ")
            );
        }
        sleep(Duration::from_millis(5));
    };
    if !status.success() {
        bail!(
            "{} {} failed ({status}): {}",
            prog.display(),
            args.join(" "),
            fs::read_to_string(&err_path).unwrap_or_default().trim()
        );
    }
    Ok(fs::read_to_string(&out_path).unwrap_or_default())
}

/// Whether `addr` is assigned to an interface of the calling thread's
/// namespace (binding to it succeeds only then).
fn is_local(addr: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(addr, 0)).is_ok()
}

impl NetLab {
    /// Enters a private network namespace (or reuses the one the calling
    /// thread is already in, e.g. after [`crate::samba::SambaDc::start`]),
    /// brings `lo` up and finds a working iptables (`iptables-nft`, then
    /// `iptables-legacy`, then `iptables`).
    ///
    /// `Ok(None)` means the test must skip; the reason has been printed
    /// (`SKIPPED: ...`). Under `CI=true` those cases are errors instead.
    pub fn enter() -> Result<Option<NetLab>> {
        let Some(ip) = find_program("ip") else {
            return skip("`ip` (iproute2) not installed");
        };
        let reused = in_private_netns()?;
        if !reused && enter_private_netns()?.is_none() {
            return Ok(None);
        }
        // INVARIANT: from here on the calling thread is in a namespace that
        // is not the process's (the host's), so rules cannot leak out.
        if !in_private_netns()? {
            bail!("still in the process's network namespace after unshare");
        }
        run(&ip, &["link", "set", "lo", "up"])?;
        let Some((iptables, ip6tables)) = Self::find_iptables() else {
            return skip("no working iptables (apt-get install iptables)");
        };
        let lab = NetLab {
            netns: current_netns()?,
            reused,
            ip,
            iptables,
            ip6tables,
            changes: Mutex::new(Vec::new()),
        };
        tracing::debug!(
            netns = %lab.netns,
            reused,
            iptables = %lab.iptables.display(),
            "network lab ready"
        );
        Ok(Some(lab))
    }

    /// The first iptables flavour that can add and delete a rule here, with
    /// its ip6tables twin (never mix nft and legacy in one namespace).
    fn find_iptables() -> Option<(PathBuf, PathBuf)> {
        let probe = [
            "-w",
            XTABLES_WAIT,
            "OUTPUT",
            "-d",
            PROBE_ADDR,
            "-p",
            "tcp",
            "--dport",
            "9",
            "-j",
            "DROP",
        ];
        for (v4, v6) in [
            ("iptables-nft", "ip6tables-nft"),
            ("iptables-legacy", "ip6tables-legacy"),
            ("iptables", "ip6tables"),
        ] {
            let Some(p4) = find_program(v4) else {
                continue;
            };
            let mut add = probe.to_vec();
            add.insert(2, "-A");
            let mut del = probe.to_vec();
            del.insert(2, "-D");
            match run(&p4, &add).and_then(|_| run(&p4, &del)) {
                Ok(_) => {
                    let p6 = find_program(v6).unwrap_or_else(|| PathBuf::from(v6));
                    return Some((p4, p6));
                }
                Err(e) => tracing::debug!(program = v4, error = %e, "iptables flavour unusable"),
            }
        }
        None
    }

    /// The namespace identity, `net:[inode]`.
    pub fn netns_id(&self) -> &str {
        &self.netns
    }

    /// Whether [`NetLab::enter`] found the thread already in a private
    /// namespace (e.g. Samba's) and stayed there.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// The iptables program in use (`iptables-nft` or `iptables-legacy`).
    pub fn iptables(&self) -> &Path {
        &self.iptables
    }

    /// Fails unless the calling thread is in the lab's namespace: a rule
    /// added anywhere else would change the host's firewall.
    fn ensure_inside(&self) -> Result<()> {
        let here = current_netns()?;
        if here != self.netns {
            bail!(
                "called from a thread outside the lab's network namespace ({here}, lab {})",
                self.netns
            );
        }
        Ok(())
    }

    fn add_rule(&self, addr: IpAddr, spec: &[&str]) -> Result<()> {
        self.ensure_inside()?;
        let prog = match addr {
            IpAddr::V4(_) => self.iptables.clone(),
            IpAddr::V6(_) => self.ip6tables.clone(),
        };
        let a = addr.to_string();
        let mut full: Vec<String> = vec!["-d".into(), a, "-p".into(), "tcp".into()];
        full.extend(spec.iter().map(|s| s.to_string()));
        let mut args: Vec<&str> = vec!["-w", XTABLES_WAIT, "-A", "OUTPUT"];
        args.extend(full.iter().map(String::as_str));
        run(&prog, &args)?;
        tracing::debug!(program = %prog.display(), rule = %full.join(" "), "fault added");
        self.record(Change::Rule { prog, spec: full });
        Ok(())
    }

    fn record(&self, change: Change) {
        match self.changes.lock() {
            Ok(mut v) => v.push(change),
            Err(poisoned) => poisoned.into_inner().push(change),
        }
    }

    /// Drops every TCP packet to `addr`: a connect times out (the host is
    /// down or a firewall drops).
    pub fn drop_tcp(&self, addr: IpAddr) -> Result<()> {
        self.add_rule(addr, &["-j", "DROP"])
    }

    /// Drops TCP packets to `addr:port` only (e.g. the dynamic endpoint
    /// while 135 still answers).
    pub fn drop_tcp_port(&self, addr: IpAddr, port: u16) -> Result<()> {
        self.add_rule(addr, &["--dport", &port.to_string(), "-j", "DROP"])
    }

    /// Answers every SYN to `addr` with a reset: a connect is refused even
    /// when something listens there (established connections carry on).
    pub fn reject_reset(&self, addr: IpAddr) -> Result<()> {
        self.add_rule(
            addr,
            &["--syn", "-j", "REJECT", "--reject-with", "tcp-reset"],
        )
    }

    /// Answers TCP to `addr` with the ICMP error `kind`. IPv4: an iptables
    /// `REJECT` (any address, usually 127.x). IPv6: a route of the matching
    /// type, for an address that is not assigned here.
    pub fn reject_icmp(&self, addr: IpAddr, kind: Icmp) -> Result<()> {
        match addr {
            IpAddr::V4(_) => self.add_rule(
                addr,
                &["-j", "REJECT", "--reject-with", kind.reject_with_v4()],
            ),
            IpAddr::V6(_) => {
                self.ensure_inside()?;
                if is_local(addr) {
                    bail!("{addr} is assigned here, so a route cannot make it unreachable; use an unassigned ipv6 address");
                }
                let spec: Vec<String> = vec![kind.route_type().into(), format!("{addr}/128")];
                let mut args = vec!["-6", "route", "add"];
                args.extend(spec.iter().map(String::as_str));
                run(&self.ip, &args)?;
                tracing::debug!(route = %spec.join(" "), "fault added");
                self.record(Change::Route6 { spec });
                Ok(())
            }
        }
    }

    /// Makes `addr` a local address (on `lo`) so something can listen on
    /// it. 127.0.0.0/8 and `::1` are local already (nothing is done); IPv6
    /// addresses are added without duplicate address detection so that they
    /// are usable at once. Adding an address already present is not an error.
    pub fn add_address(&self, addr: IpAddr) -> Result<()> {
        self.ensure_inside()?;
        if addr.is_loopback() || is_local(addr) {
            return Ok(());
        }
        let a = match addr {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        };
        let mut args = vec!["addr", "add", a.as_str(), "dev", "lo"];
        if addr.is_ipv6() {
            args.push("nodad");
        }
        run(&self.ip, &args)?;
        Ok(())
    }

    /// Removes every fault this lab added, newest first (the network
    /// "heals"). Addresses stay.
    pub fn clear(&self) -> Result<()> {
        self.ensure_inside()?;
        let changes = match self.changes.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for change in changes.iter().rev() {
            match change {
                Change::Rule { prog, spec } => {
                    let mut args: Vec<&str> = vec!["-w", XTABLES_WAIT, "-D", "OUTPUT"];
                    args.extend(spec.iter().map(String::as_str));
                    run(prog, &args)?;
                }
                Change::Route6 { spec } => {
                    let mut args = vec!["-6", "route", "del"];
                    args.extend(spec.iter().map(String::as_str));
                    run(&self.ip, &args)?;
                }
            }
        }
        Ok(())
    }
}

/// A dnsmasq child process serving one zone; killed on drop.
///
/// * Names given in `records` answer with their A / AAAA records (a name
///   with only A records answers AAAA queries with NOERROR and no data, and
///   the other way round).
/// * Any other name in `zone` is NXDOMAIN (`--local=/zone/`).
/// * Names under `fail_zone` are answered REFUSED at once (dnsmasq is told
///   to forward them to the "standard" upstream servers, and it has none).
///   dnsmasq cannot be made to answer SERVFAIL without an upstream that
///   does; REFUSED, like SERVFAIL, is a server failure to a resolver:
///   `WSATRY_AGAIN`, retried, `NotFoundReason::TryAgain`.
/// * Every other name is REFUSED too (no upstream: nothing is ever
///   forwarded).
///
/// dnsmasq reads no configuration file, no `/etc/hosts` and no
/// `resolv.conf`, listens only on the given address (UDP and TCP), logs every
/// query (see [`Dns::log`]) and runs in the network namespace of the thread
/// that starts it.
#[derive(Debug)]
pub struct Dns {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A DNS name or zone as dnsmasq's command line can carry it.
fn check_name(what: &str, name: &str) -> Result<String> {
    let n = name.trim_end_matches('.');
    if n.is_empty()
        || n.chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
    {
        bail!("invalid {what} {name:?} for dnsmasq");
    }
    Ok(n.to_ascii_lowercase())
}

impl Dns {
    /// Whether dnsmasq is installed.
    pub fn available() -> bool {
        find_program("dnsmasq").is_some()
    }

    /// Starts dnsmasq on `listen` (an address of the lab; port 53 or any
    /// other) for `zone` with `records`, and `fail_zone` failing; see the
    /// type documentation. Returns once it accepts TCP connections.
    pub fn start(
        listen: SocketAddr,
        zone: &str,
        records: &[(&str, IpAddr)],
        fail_zone: Option<&str>,
    ) -> Result<Dns> {
        let prog = find_program("dnsmasq").context("dnsmasq not installed")?;
        let zone = check_name("zone", zone)?;
        let mut by_name: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (name, addr) in records {
            by_name
                .entry(check_name("record name", name)?)
                .or_default()
                .push(*addr);
        }
        let dir = tempfile::Builder::new()
            .prefix("winv-dnsmasq-")
            .tempdir()
            .context("create temp dir")?;
        let log = dir.path().join("dnsmasq.log");
        let logf = File::create(&log).context("create dnsmasq.log")?;

        let mut args: Vec<String> = [
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--pid-file",
            "--bind-interfaces",
            "--user=root",
            "--group=root",
            "--cache-size=0",
            "--log-facility=-",
            "--log-queries",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--listen-address={}", listen.ip()));
        args.push(format!("--port={}", listen.port()));
        args.push(format!("--local=/{zone}/"));
        if let Some(fz) = fail_zone {
            args.push(format!("--server=/{}/#", check_name("fail zone", fz)?));
        }
        for (name, addrs) in &by_name {
            for a in addrs {
                args.push(format!("--host-record={name},{a}"));
            }
        }
        let child = Command::new(&prog)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().context("dup log file")?)
            .stderr(logf)
            .spawn()
            .context("spawn dnsmasq")?;
        let mut dns = Dns {
            child: Some(child),
            addr: listen,
            log,
            _dir: dir,
        };
        let end = Instant::now() + DNS_START_DEADLINE;
        loop {
            if let Some(st) = dns.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                dns.child = None;
                bail!("dnsmasq exited ({st}): {}", tail(&dns.log, 10));
            }
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() >= end {
                bail!(
                    "dnsmasq did not accept on {listen} within {DNS_START_DEADLINE:?}: {}",
                    tail(&dns.log, 10)
                );
            }
            sleep(Duration::from_millis(20));
        }
        tracing::debug!(%listen, zone, records = records.len(), "dnsmasq ready");
        Ok(dns)
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// dnsmasq's log so far: one `query[A] NAME from ADDR` line per query
    /// and how it was answered.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
