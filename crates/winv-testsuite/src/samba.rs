//! A real Samba AD DC in a network namespace private to the calling thread,
//! and a packet capture helper that runs in the same namespace.
//!
//! Network namespaces are per thread. [`SambaDc::start`] moves the *calling
//! thread* into a fresh network namespace (`unshare(CLONE_NEWNET)`), brings
//! `lo` up, adds [`DC_ADDR`] to `lo`, provisions a domain into a temporary
//! directory and starts `samba -i -M single` from that thread, so every child
//! process inherits the namespace. The test must then do all of its network
//! I/O from that same thread (e.g. a current-thread tokio runtime with
//! `block_on`). Nothing inside the namespace can reach any other network: the
//! namespace holds only `lo`.
//!
//! Nothing is written outside the temporary directory: provisioning uses
//! `--targetdir` and an empty base configuration, and pid, socket, log and
//! ncalrpc directories are pointed into the temporary directory too.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::fixtures::in_ci;

/// Kerberos realm of the test domain.
pub const REALM: &str = "WINV.TEST";
/// NetBIOS domain name of the test domain.
pub const DOMAIN: &str = "WINV";
/// NetBIOS host name of the DC.
pub const DC_HOSTNAME: &str = "DC1";
/// The domain administrator account.
pub const ADMIN_USER: &str = "Administrator";
/// The domain administrator password: a test constant, valid only inside the
/// throw-away domain of one test process.
pub const ADMIN_PASSWORD: &str = "Winv-Test-Passw0rd!";
/// The address the DC listens on (added to `lo` inside the private namespace;
/// the DC listens on 127.0.0.1 as well).
pub const DC_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// How long the DC may take from `samba` spawn until its ports accept.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long provisioning may take.
const PROVISION_DEADLINE: Duration = Duration::from_secs(180);
/// Ports that must accept before the DC counts as started: epmapper, SMB,
/// LDAP, Kerberos.
const READY_PORTS: [u16; 4] = [135, 445, 389, 88];

/// Skips (prints and returns `Ok(None)`) or, under CI, fails.
fn skip<T>(why: &str) -> Result<Option<T>> {
    if in_ci() {
        bail!("prerequisite missing under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
    Ok(None)
}

/// Finds an executable in `PATH` or the usual sbin directories (which
/// non-root users often lack in `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/sbin",
                "/sbin",
                "/usr/local/bin",
                "/usr/bin",
                "/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The network namespace the calling thread is in, as `net:[inode]`.
pub fn current_netns() -> Result<String> {
    let link =
        fs::read_link("/proc/thread-self/ns/net").context("read /proc/thread-self/ns/net")?;
    Ok(link.to_string_lossy().into_owned())
}

/// A network namespace entered by the calling thread; see [`enter_private_netns`].
#[derive(Debug, Clone)]
pub struct PrivateNetns {
    id: String,
}

impl PrivateNetns {
    /// The namespace identity, `net:[inode]`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Pids of all processes (other than this one) whose main thread is in
    /// this namespace: necessarily descendants of the thread that created it.
    pub fn pids(&self) -> Vec<Pid> {
        let me = std::process::id();
        let Ok(dir) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
            .filter(|&pid| pid != me)
            .filter(|pid| {
                fs::read_link(format!("/proc/{pid}/ns/net"))
                    .map(|l| l.to_string_lossy() == self.id)
                    .unwrap_or(false)
            })
            .filter_map(|pid| i32::try_from(pid).ok().map(Pid::from_raw))
            .collect()
    }

    /// Sends `sig` to every process in the namespace (except this process).
    pub fn signal_all(&self, sig: Signal) -> usize {
        let pids = self.pids();
        for pid in &pids {
            let _ = kill(*pid, sig);
        }
        pids.len()
    }
}

/// Moves the calling thread into a fresh network namespace holding only `lo`
/// (up, with 127.0.0.1 and [`DC_ADDR`]/32).
///
/// Returns `Ok(None)` (after printing why) when this is impossible (not root,
/// no `ip`), or an error under CI.
pub fn enter_private_netns() -> Result<Option<PrivateNetns>> {
    let Some(ip) = find_program("ip") else {
        return skip("`ip` (iproute2) not installed");
    };
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
        return skip(&format!(
            "cannot create a network namespace ({e}); run the Samba tests as root"
        ));
    }
    run_quiet(&ip, &["link", "set", "lo", "up"])?;
    run_quiet(&ip, &["addr", "add", &format!("{DC_ADDR}/32"), "dev", "lo"])?;
    Ok(Some(PrivateNetns {
        id: current_netns()?,
    }))
}

fn run_quiet(prog: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", prog.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            prog.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Waits for `child` with a deadline; kills it when the deadline passes.
fn wait_deadline(child: &mut Child, deadline: Duration) -> Result<Option<ExitStatus>> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of a text file (empty if unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(_) => return String::new(),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn port_accepts(addr: IpAddr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_millis(250)).is_ok()
}

/// A running Samba AD DC in the calling thread's private network namespace.
///
/// Dropping it terminates samba and every process it started (found by
/// namespace membership, since smbd and samba-dcerpcd detach into their own
/// sessions) and removes the temporary directory. Stop any [`PacketCapture`]
/// before dropping the DC, or it is terminated too.
pub struct SambaDc {
    netns: PrivateNetns,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    provision_time: Duration,
    startup_time: Duration,
}

impl fmt::Debug for SambaDc {
    // By hand: never print the administrator password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SambaDc")
            .field("addr", &DC_ADDR)
            .field("realm", &REALM)
            .field("domain", &DOMAIN)
            .field("data_dir", &self.data_dir())
            .field("netns", &self.netns.id)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish_non_exhaustive()
    }
}

impl SambaDc {
    /// Provisions and starts a DC; see the module documentation.
    ///
    /// `Ok(None)` means skipped (a message was printed): samba is not
    /// installed or we may not create a network namespace. Under `CI=true`
    /// those are errors instead.
    pub fn start() -> Result<Option<SambaDc>> {
        Self::start_with(false)
    }

    /// Provisions and starts a DC, with Samba's DNS server and a verifiable
    /// TLS certificate when `dns` (see [`SambaDc::start_with_dns`]).
    fn start_with(dns: bool) -> Result<Option<SambaDc>> {
        let (Some(samba), Some(samba_tool)) = (find_program("samba"), find_program("samba-tool"))
        else {
            return skip(
                "samba / samba-tool not installed (apt-get install samba samba-ad-dc winbind)",
            );
        };
        let Some(netns) = enter_private_netns()? else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("winv-samba-")
            .tempdir()
            .context("create temp dir")?;
        let root = dir.path().to_path_buf();
        let mut dc = SambaDc {
            netns,
            child: None,
            dir: Some(dir),
            provision_time: Duration::ZERO,
            startup_time: Duration::ZERO,
        };

        let t0 = Instant::now();
        dc.provision(&samba_tool, &root)?;
        dc.provision_time = t0.elapsed();
        if dns {
            dc.enable_dns_and_tls()?;
        }

        let t1 = Instant::now();
        dc.spawn_and_wait(&samba, &root)?;
        if dns {
            let end = Instant::now() + START_DEADLINE;
            while !port_accepts(IpAddr::V4(DC_ADDR), 53) {
                if Instant::now() >= end {
                    bail!(
                        "samba dns did not accept within {START_DEADLINE:?}; log tail:\n{}",
                        dc.log_tail(40)
                    );
                }
                sleep(Duration::from_millis(100));
            }
        }
        dc.startup_time = t1.elapsed();
        eprintln!(
            "samba dc {} {}ready at {DC_ADDR} in {}: provision {:.1?}, start {:.1?}",
            REALM,
            if dns { "with dns " } else { "" },
            dc.netns.id,
            dc.provision_time,
            dc.startup_time
        );
        Ok(Some(dc))
    }

    fn provision(&self, samba_tool: &Path, root: &Path) -> Result<()> {
        let base = root.join("empty.conf");
        fs::write(&base, "").context("write empty.conf")?;
        let log = root.join("provision.log");
        let logf = File::create(&log).context("create provision.log")?;
        let r = root.display();
        let options = [
            format!("interfaces={DC_ADDR} 127.0.0.1"),
            "bind interfaces only=yes".to_string(),
            // No DNS server: nothing to forward anywhere, no port 53 loops.
            "server services=-dns".to_string(),
            "panic action=".to_string(),
            format!("pid directory={r}/run"),
            format!("ncalrpc dir={r}/ncalrpc"),
            format!("ntp signd socket directory={r}/ntp_signd"),
            format!("log file={r}/log.%m"),
        ];
        let mut cmd = Command::new(samba_tool);
        cmd.arg("domain")
            .arg("provision")
            // An empty base configuration so /etc/samba/smb.conf is not merged in.
            .arg(format!("--configfile={}", base.display()))
            .arg(format!("--targetdir={r}"))
            .args([
                "--use-rfc2307",
                &format!("--realm={REALM}"),
                &format!("--domain={DOMAIN}"),
                "--server-role=dc",
                "--dns-backend=SAMBA_INTERNAL",
                &format!("--host-ip={DC_ADDR}"),
                &format!("--host-name={}", DC_HOSTNAME.to_lowercase()),
            ])
            .arg(format!("--adminpass={ADMIN_PASSWORD}"));
        for o in &options {
            cmd.arg(format!("--option={o}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .context("spawn samba-tool domain provision")?;
        match wait_deadline(&mut child, PROVISION_DEADLINE)? {
            Some(st) if st.success() => Ok(()),
            Some(st) => bail!(
                "samba-tool domain provision failed ({st}); log tail:\n{}",
                tail(&log, 30)
            ),
            None => bail!(
                "samba-tool domain provision timed out; log tail:\n{}",
                tail(&log, 30)
            ),
        }
    }

    fn spawn_and_wait(&mut self, samba: &Path, root: &Path) -> Result<()> {
        let log = self.log_path();
        let logf = File::create(&log).context("create samba.log")?;
        // winbindd clients (smbd mapping SIDs to uids) only look for the
        // compiled-in /run/samba/winbindd, and pathname sockets ignore network
        // namespaces; so samba gets a mount namespace of its own with the
        // temp dir's run-samba bind-mounted over /run/samba. samba-dcerpcd
        // and its rpcd_* workers ignore `log file`, hence the same for
        // /var/log/samba.
        let run_samba = root.join("run-samba");
        fs::create_dir_all(&run_samba).context("create run-samba")?;
        let log_samba = root.join("log-samba");
        fs::create_dir_all(&log_samba).context("create log-samba")?;
        let unshare = find_program("unshare").context("unshare (util-linux) not installed")?;
        let child = Command::new(unshare)
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(concat!(
                r#"mkdir -p /run/samba /var/log/samba && mount --bind "$1" /run/samba && "#,
                r#"mount --bind "$4" /var/log/samba && "#,
                r#"exec "$2" -i -M single -d 1 --configfile="$3""#
            ))
            .arg("sh")
            .arg(&run_samba)
            .arg(samba)
            .arg(self.smb_conf())
            .arg(&log_samba)
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .process_group(0)
            .spawn()
            .context("spawn samba")?;
        self.child = Some(child);

        let end = Instant::now() + START_DEADLINE;
        for port in READY_PORTS {
            loop {
                if port_accepts(IpAddr::V4(DC_ADDR), port) {
                    break;
                }
                if let Some(st) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    bail!(
                        "samba exited ({st}) before port {port} accepted; log tail:\n{}",
                        self.log_tail(40)
                    );
                }
                if Instant::now() >= end {
                    bail!(
                        "samba port {port} did not accept within {START_DEADLINE:?}; log tail:\n{}",
                        self.log_tail(40)
                    );
                }
                sleep(Duration::from_millis(100));
            }
        }
        // winbindd maps SIDs to uids for SMB sessions; give it a moment.
        let pipe = root.join("run-samba/winbindd/pipe");
        let wb_end = Instant::now() + Duration::from_secs(10);
        while !pipe.exists() && Instant::now() < wb_end {
            sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The IP the DC listens on (it listens on 127.0.0.1 as well).
    pub fn addr(&self) -> IpAddr {
        IpAddr::V4(DC_ADDR)
    }
    /// Kerberos realm, `WINV.TEST`.
    pub fn realm(&self) -> &str {
        REALM
    }
    /// NetBIOS domain, `WINV`.
    pub fn domain(&self) -> &str {
        DOMAIN
    }
    /// NetBIOS host name of the DC, `DC1`.
    pub fn hostname(&self) -> &str {
        DC_HOSTNAME
    }
    /// `Administrator`.
    pub fn admin_user(&self) -> &str {
        ADMIN_USER
    }
    /// The administrator password (a test constant).
    pub fn admin_password(&self) -> &str {
        ADMIN_PASSWORD
    }
    /// The temporary directory holding the DC's configuration, databases and logs.
    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(Path::new(""))
    }
    /// The generated `smb.conf` (pass it to client tools with `-s`).
    pub fn smb_conf(&self) -> PathBuf {
        self.data_dir().join("etc/smb.conf")
    }
    /// The generated `krb5.conf` (use via `KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> PathBuf {
        self.data_dir().join("private/krb5.conf")
    }
    /// Where samba's stdout/stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir().join("samba.log")
    }
    /// The last `lines` lines of samba's output.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }
    /// The private network namespace the DC runs in.
    pub fn netns(&self) -> &PrivateNetns {
        &self.netns
    }
    /// How long `samba-tool domain provision` took.
    pub fn provision_time(&self) -> Duration {
        self.provision_time
    }
    /// How long from spawning `samba` until its ports accepted.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }
    /// Writes a Samba client authentication file (`-A`) for the
    /// administrator into the data directory and returns its path, so the
    /// password need not appear on a command line.
    pub fn admin_auth_file(&self) -> Result<PathBuf> {
        let p = self.data_dir().join("admin.auth");
        fs::write(
            &p,
            format!("username = {ADMIN_USER}\npassword = {ADMIN_PASSWORD}\ndomain = {DOMAIN}\n"),
        )
        .context("write admin.auth")?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).context("chmod admin.auth")?;
        Ok(p)
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                // samba runs in its own process group (pgid == pid).
                let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let _ = wait_deadline(&mut child, Duration::from_secs(5));
        }
        // smbd, winbindd and samba-dcerpcd detach into sessions of their own;
        // they are still in our namespace.
        if self.netns.signal_all(Signal::SIGTERM) > 0 {
            let end = Instant::now() + Duration::from_secs(3);
            while !self.live_pids().is_empty() && Instant::now() < end {
                sleep(Duration::from_millis(50));
            }
            self.netns.signal_all(Signal::SIGKILL);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl SambaDc {
    /// Pids in our namespace that are not zombies.
    fn live_pids(&self) -> Vec<Pid> {
        self.netns
            .pids()
            .into_iter()
            .filter(|p| {
                fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(')')
                            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                    })
                    .unwrap_or(false)
            })
            .collect()
    }
}

/// A running `dumpcap` (or `tshark`) writing a pcapng file, started from the
/// calling thread so it captures in that thread's network namespace.
#[derive(Debug)]
pub struct PacketCapture {
    child: Option<Child>,
    path: PathBuf,
    log: PathBuf,
}

impl PacketCapture {
    /// Whether a capture tool is installed.
    pub fn available() -> bool {
        find_program("dumpcap").is_some() || find_program("tshark").is_some()
    }

    /// Starts capturing on `iface` with capture filter `filter` (BPF syntax,
    /// e.g. `"tcp port 135"`; empty for none) into `path`, and returns once
    /// the capture is running.
    pub fn start(iface: &str, filter: &str, path: impl AsRef<Path>) -> Result<PacketCapture> {
        let path = path.as_ref().to_path_buf();
        let prog = find_program("dumpcap")
            .or_else(|| find_program("tshark"))
            .ok_or_else(|| anyhow!("neither dumpcap nor tshark is installed"))?;
        let log = PathBuf::from(format!("{}.log", path.display()));
        let logf = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut cmd = Command::new(&prog);
        cmd.args(["-i", iface, "-q", "-w"]).arg(&path);
        if !filter.is_empty() {
            cmd.args(["-f", filter]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("spawn {}", prog.display()))?;
        let mut cap = PacketCapture {
            child: Some(child),
            path,
            log,
        };
        // Running = announced on stderr and the pcapng header written.
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let started = fs::read_to_string(&cap.log)
                .map(|s| s.contains("Capturing on"))
                .unwrap_or(false);
            let has_header = fs::metadata(&cap.path)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
            if started && has_header {
                // Announced and header written; a short margin for the
                // socket filter to settle.
                sleep(Duration::from_millis(200));
                return Ok(cap);
            }
            if let Some(st) = cap.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                cap.child = None;
                bail!("{} exited ({st}): {}", prog.display(), tail(&cap.log, 10));
            }
            if Instant::now() >= end {
                bail!("capture did not start within 15s: {}", tail(&cap.log, 10));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the capture (SIGINT, wait) so the file is complete, and returns its path.
    pub fn stop(mut self) -> Result<PathBuf> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow!("capture already ended"))?;
        // INVARIANT: libpcap (TPACKET_V3) hands packets to dumpcap only when a
        // ring block retires (full, or its ~250 ms timeout), and dumpcap drops
        // the unretired block on SIGINT. Measured: SIGINT right after traffic
        // lost it 5/5 times, 300 ms later 0/5. So wait well past the timeout.
        sleep(Duration::from_millis(1000));
        let pid = i32::try_from(child.id()).context("pid out of range")?;
        kill(Pid::from_raw(pid), Signal::SIGINT).context("signal capture")?;
        match wait_deadline(&mut child, Duration::from_secs(10))? {
            Some(st) if st.success() => {}
            Some(st) => bail!("capture exited with {st}: {}", tail(&self.log, 10)),
            None => bail!("capture did not stop within 10s: {}", tail(&self.log, 10)),
        }
        Ok(self.path.clone())
    }
}

impl Drop for PacketCapture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
            }
            let _ = wait_deadline(&mut child, Duration::from_secs(5));
        }
    }
}

/// How [`SambaDc::modify_account`] changes an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountChange {
    /// The values replace the attribute's.
    Replace,
    /// The values are added to the attribute's.
    Add,
}

/// `modify_account`'s script: argv is the account, the attribute, `replace` or `add`, and
/// the values.
const MODIFY_ACCOUNT: &str = r#"
import os, sys, ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
lp = LoadParm()
lp.load(os.environ["WINV_SMB_CONF"])
db = SamDB(url=os.environ["WINV_SAM_LDB"], session_info=system_session(), lp=lp)
account, attribute, mode, values = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
res = db.search(base=db.domain_dn(), expression="(sAMAccountName=%s)" % account, attrs=["dn"])
m = ldb.Message()
m.dn = res[0].dn
flag = ldb.FLAG_MOD_REPLACE if mode == "replace" else ldb.FLAG_MOD_ADD
m["v"] = ldb.MessageElement(values, flag, attribute)
db.modify(m)
print("ok")
"#;

/// Additions for discovery tests: a DC that also serves DNS, `samba-tool` and
/// Python (samba bindings) run against the DC's own configuration, and the
/// TLS CA certificate Samba generates at first start.
impl SambaDc {
    /// Like [`SambaDc::start`], but Samba's internal DNS server runs too
    /// (UDP and TCP port 53 on [`DC_ADDR`] and 127.0.0.1 inside the
    /// namespace), serving the provisioned zone `winv.test` with the DC's
    /// records (`dc1.winv.test`, `_ldap._tcp.dc._msdcs.winv.test`). It has no
    /// forwarder: names outside the zone fail.
    pub fn start_with_dns() -> Result<Option<SambaDc>> {
        Self::start_with(true)
    }

    /// Turns the DNS service back on in smb.conf and gives the DC a TLS
    /// certificate that verifiers accept.
    fn enable_dns_and_tls(&self) -> Result<()> {
        let conf_path = self.smb_conf();
        let conf = fs::read_to_string(&conf_path).context("read smb.conf")?;
        let conf: String = conf
            .lines()
            .filter(|l| !l.trim_start().starts_with("server services"))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&conf_path, conf).context("write smb.conf")?;
        // Samba's self-generated certificate names the host only in its
        // subject CN, without subjectAltName, which RFC 6125 verifiers
        // (rustls / webpki) refuse for any name; so the DC gets a certificate
        // for `dc1.winv.test` (SAN) from a throw-away CA made here.
        self.make_tls_certs()
    }

    /// Makes a CA and a server certificate for [`SambaDc::fqdn`] (with
    /// subjectAltName) under `private/winv-tls/` and points smb.conf's
    /// `tls keyfile` / `tls certfile` / `tls cafile` at them.
    fn make_tls_certs(&self) -> Result<()> {
        let openssl = find_program("openssl").context("openssl not installed")?;
        let dir = self.data_dir().join("private/winv-tls");
        fs::create_dir_all(&dir).context("create winv-tls")?;
        let fqdn = self.fqdn();
        let ext = dir.join("ext.cnf");
        fs::write(
            &ext,
            format!(
                "subjectAltName=DNS:{fqdn}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .context("write ext.cnf")?;
        let d = |f: &str| dir.join(f).display().to_string();
        let steps: [Vec<String>; 3] = [
            vec![
                "req".into(),
                "-x509".into(),
                "-newkey".into(),
                "rsa:2048".into(),
                "-nodes".into(),
                "-keyout".into(),
                d("ca.key"),
                "-out".into(),
                d("ca.pem"),
                "-days".into(),
                "30".into(),
                "-subj".into(),
                "/CN=winv test CA".into(),
                "-addext".into(),
                "basicConstraints=critical,CA:TRUE".into(),
                "-addext".into(),
                "keyUsage=critical,keyCertSign,cRLSign".into(),
            ],
            vec![
                "req".into(),
                "-newkey".into(),
                "rsa:2048".into(),
                "-nodes".into(),
                "-keyout".into(),
                d("key.pem"),
                "-out".into(),
                d("req.csr"),
                "-subj".into(),
                format!("/CN={fqdn}"),
            ],
            vec![
                "x509".into(),
                "-req".into(),
                "-in".into(),
                d("req.csr"),
                "-CA".into(),
                d("ca.pem"),
                "-CAkey".into(),
                d("ca.key"),
                "-CAcreateserial".into(),
                "-out".into(),
                d("cert.pem"),
                "-days".into(),
                "30".into(),
                "-extfile".into(),
                d("ext.cnf"),
            ],
        ];
        for args in &steps {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_quiet(&openssl, &args)?;
        }
        fs::set_permissions(dir.join("key.pem"), fs::Permissions::from_mode(0o600))
            .context("chmod key.pem")?;
        let conf_path = self.smb_conf();
        let conf = fs::read_to_string(&conf_path).context("read smb.conf")?;
        let conf = conf.replacen(
            "[global]\n",
            &format!(
                "[global]\n\ttls enabled = yes\n\ttls keyfile = {}\n\ttls certfile = {}\n\ttls cafile = {}\n",
                d("key.pem"),
                d("cert.pem"),
                d("ca.pem")
            ),
            1,
        );
        fs::write(&conf_path, conf).context("write smb.conf")?;
        Ok(())
    }

    /// The CA certificate (PEM) the DC's TLS certificate chains to: the one
    /// [`SambaDc::start_with_dns`] made, else the self-signed one Samba
    /// generates at first start (`private/tls/ca.pem`); waits up to 10 s for it.
    pub fn tls_ca_file(&self) -> Result<PathBuf> {
        let ours = self.data_dir().join("private/winv-tls/ca.pem");
        if ours.exists() {
            return Ok(ours);
        }
        let p = self.data_dir().join("private/tls/ca.pem");
        let end = Instant::now() + Duration::from_secs(10);
        while !p.exists() {
            if Instant::now() >= end {
                bail!("{} not created by samba", p.display());
            }
            sleep(Duration::from_millis(100));
        }
        Ok(p)
    }

    /// The DC's fully qualified host name, `dc1.winv.test` (the name in its
    /// TLS certificate).
    pub fn fqdn(&self) -> String {
        format!("{}.{}", DC_HOSTNAME, REALM).to_lowercase()
    }

    /// Runs `samba-tool ARGS --configfile=<smb.conf>` with the administrator's
    /// name and password in the environment (`USER`, `PASSWD`; never in argv)
    /// and returns its standard output.
    pub fn samba_tool(&self, args: &[&str]) -> Result<String> {
        let prog = find_program("samba-tool").context("samba-tool not installed")?;
        let out = Command::new(&prog)
            .args(args)
            .arg(format!("--configfile={}", self.smb_conf().display()))
            .env("USER", ADMIN_USER)
            .env("PASSWD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .output()
            .context("run samba-tool")?;
        if !out.status.success() {
            bail!(
                "samba-tool {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Sets (`replace`) or adds to (`add`) the values of `attribute` of the account whose
    /// sAMAccountName is `account` (`WEB1$` for a computer), in one LDB modify of the DC's
    /// own database: `msDS-SupportedEncryptionTypes`, a thousand `servicePrincipalName`s.
    pub fn modify_account(
        &self,
        account: &str,
        attribute: &str,
        change: AccountChange,
        values: &[&str],
    ) -> Result<()> {
        let mode = match change {
            AccountChange::Replace => "replace",
            AccountChange::Add => "add",
        };
        let mut args = vec![account, attribute, mode];
        args.extend_from_slice(values);
        self.run_python(MODIFY_ACCOUNT, &args).map(drop)
    }

    /// Runs a Python 3 script (with Samba's bindings) from the calling
    /// thread, so inside the namespace. The script finds `WINV_SMB_CONF`
    /// (the DC's smb.conf), `WINV_SAM_LDB` (the path of `private/sam.ldb`),
    /// `WINV_ADMIN_USER` / `WINV_ADMIN_PASSWORD` and `WINV_DC_ADDR` in its
    /// environment, and `args` in `sys.argv[1:]`. Returns standard output.
    pub fn run_python(&self, script: &str, args: &[&str]) -> Result<String> {
        // Samba's bindings belong to the system interpreter, which may not be
        // the first `python3` in PATH.
        let py = [PathBuf::from("/usr/bin/python3")]
            .into_iter()
            .find(|p| p.exists())
            .or_else(|| find_program("python3"))
            .context("python3 not installed")?;
        let out = Command::new(&py)
            .arg("-c")
            .arg(script)
            .args(args)
            .env("WINV_SMB_CONF", self.smb_conf())
            .env("WINV_SAM_LDB", self.data_dir().join("private/sam.ldb"))
            .env("WINV_ADMIN_USER", ADMIN_USER)
            .env("WINV_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("WINV_DC_ADDR", DC_ADDR.to_string())
            .stdin(Stdio::null())
            .output()
            .context("run python3")?;
        if !out.status.success() {
            bail!(
                "python script failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
