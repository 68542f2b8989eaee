//! Hostile servers: `winventory query` and `winventory diagnose` against hosts that answer
//! whatever they like, over loopback. Each behaviour is asserted for its exit code, the
//! stage the error names, a bound on time (the deadline given plus a second) and on the
//! peak resident memory of the `winventory` process (VmHWM from `/proc`, under 64 MiB),
//! for both commands (`diagnose --json`: its failure's stage and code; addresses
//! 127.0.121.x). `scan` is in `crates/winventory/tests/hostile_scan.rs`.
//!
//! Three kinds of server:
//! - a fake DCE/RPC endpoint on port 135 written here on raw TCP (silence, trickled bytes,
//!   a header claiming 65,535 octets, garbage, an RST, a bind_nak with a reason no
//!   specification names, a shutdown PDU instead of the bind_ack);
//! - the simulator with its hostile faults (`endless_enumeration`, `empty_enumeration`,
//!   `fault_then_silence`; docs/fleet.md), which speaks the whole flow (NTLM at packet
//!   privacy, activation, OXID, login) and misbehaves in the enumeration;
//! - the healthy simulator behind the re-sealing proxy (`winv_testsuite::reseal`), which
//!   derives the session keys from the logon it relays and alters the server's answers
//!   above a valid seal: endless sealed fragments, a 4 GiB `alloc_hint`, cut, duplicated,
//!   misaddressed and replayed answers, faults in place of answers, and two hundred random
//!   damages (127.0.140.x and 127.0.142.x in front of 127.0.141.x and 127.0.143.x).
//!
//! `winventory` must be built (`cargo build -p winventory`, which `cargo nextest run
//! --workspace` does); the tests skip without it, and fail under CI=true.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winv_testsuite::cli::watch;
use winv_testsuite::fixtures::skip_or_fail;
use winv_testsuite::reseal::{self, ResealProxy, Route};
use winv_testsuite::sim::serve_one_host;

const PW_ENV: &str = "WINV_HOSTILE_PASSWORD";
const PASSWORD: &str = "Hostile-Passw0rd!";
/// Peak resident memory allowed for one `winventory query`.
const MAX_HWM_KIB: u64 = 64 * 1024;

/// exit codes of `winventory query --help`.
const EXIT_CONNECTION: i32 = 3;
const EXIT_ACCESS: i32 = 4;
const EXIT_WMI: i32 = 5;
const EXIT_TIMEOUT: i32 = 6;

/// The `winventory` binary of this build (beside the test's own `deps/` directory).
fn winventory() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("winventory");
    if bin.is_file() {
        Some(bin)
    } else {
        skip_or_fail(&format!(
            "{} not built: cargo build -p winventory",
            bin.display()
        ));
        None
    }
}

#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// VmHWM of the child, KiB.
    hwm_kib: u64,
    /// User + system CPU of the child, seconds (from /proc/PID/stat, 100 Hz ticks).
    cpu_s: f64,
}

/// Runs `winventory ARGS` with the test password in its environment, sampling the child's
/// VmHWM and CPU until it exits (`winv_testsuite::cli::watch`); kills it after `limit`
/// (a hang is a failure). Its output goes to files, so a chatty child never blocks.
fn run(bin: &PathBuf, args: &[&str], limit: Duration) -> Outcome {
    let dir = std::env::temp_dir().join(format!(
        "winv-hostile-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(bin)
        .args(args)
        .env(PW_ENV, PASSWORD)
        .env_remove("RUST_LOG")
        .env_remove("WINVENTORY_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let w = watch(&mut child, limit);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let o = Outcome {
        code: w.status.code(),
        stdout: read("stdout"),
        stderr: read("stderr"),
        elapsed: w.elapsed,
        hwm_kib: w.hwm_kib,
        cpu_s: w.cpu_s,
    };
    let _ = std::fs::remove_dir_all(&dir);
    o
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Runs `winventory query` against `addr:port` with `--timeout secs`; kills it after
/// `secs + 30` s.
fn query(bin: &PathBuf, addr: &str, port: u16, wql: &str, secs: u64) -> Outcome {
    let port = port.to_string();
    let t = secs.to_string();
    let args = [
        "query",
        addr,
        wql,
        "--user",
        "LAB\\admin",
        "--password-env",
        PW_ENV,
        "--port",
        &port,
        "--timeout",
        &t,
    ];
    run(bin, &args, Duration::from_secs(secs + 30))
}

/// The common assertions: exit code, stage, time, memory.
fn check(o: &Outcome, what: &str, codes: &[i32], stage: &str, deadline: Duration) {
    assert!(
        o.code.is_some_and(|c| codes.contains(&c)),
        "{what}: exit {:?}, want one of {codes:?}: {}",
        o.code,
        o.stderr
    );
    assert!(
        o.stderr.contains(&format!("at {stage}:")),
        "{what}: stage {stage} not named: {}",
        o.stderr
    );
    assert!(
        o.elapsed <= deadline + Duration::from_secs(1),
        "{what}: took {:?}, deadline {deadline:?}",
        o.elapsed
    );
    assert!(o.hwm_kib > 0, "{what}: VmHWM never read");
    assert!(
        o.hwm_kib < MAX_HWM_KIB,
        "{what}: peak resident memory {} KiB",
        o.hwm_kib
    );
    assert!(
        !o.stderr.contains('\u{1b}'),
        "{what}: ANSI codes in: {}",
        o.stderr
    );
    // The error is said once; the pointer to `explain` and the account echo are hints.
    let hint = |l: &str| {
        l.starts_with("winventory: causes and fixes:")
            || l.starts_with("winventory: the logon was refused for account")
    };
    assert_eq!(
        o.stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !hint(l))
            .count(),
        1,
        "{what}: one error line, not: {}",
        o.stderr
    );
    // A reply that failed verification is not a refused logon.
    if o.stderr.contains("failed verification") {
        assert!(
            !o.stderr.contains("the logon was refused"),
            "{what}: {}",
            o.stderr
        );
    }
}

// ------------------------------------------------------------------ the fake endpoint

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Accepts and never answers.
    Silence,
    /// A valid-looking bind_ack header, one octet every 300 ms.
    Trickle,
    /// A header claiming 65,535 octets, 100 of them, then nothing.
    OversizeHeader,
    /// Octets that are no PDU.
    Garbage,
    /// Reads the bind, then resets the connection.
    Reset,
    /// A bind_nak with reject reason 0x7777, which no specification names.
    UnknownBindNak,
    /// A shutdown PDU ([C706] 12.6.4.11) instead of the bind_ack.
    Shutdown,
}

/// A 16-octet PDU header ([C706] 12.6.3.1).
fn header(ptype: u8, frag_len: u16, call_id: u32) -> Vec<u8> {
    let mut h = vec![5, 0, ptype, 0x03, 0x10, 0, 0, 0];
    h.extend_from_slice(&frag_len.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&call_id.to_le_bytes());
    h
}

async fn read_bind(s: &mut TcpStream) -> u32 {
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    while got < 16 {
        match s.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => return 0,
            Ok(n) => got += n,
        }
    }
    u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]])
}

async fn behave(mut s: TcpStream, b: Behaviour) {
    match b {
        Behaviour::Silence => {
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        Behaviour::Trickle => {
            let call_id = read_bind(&mut s).await;
            let mut pdu = header(12, 60, call_id);
            pdu.resize(60, 0);
            for b in pdu.iter().chain(std::iter::repeat(&0u8)) {
                if s.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        Behaviour::OversizeHeader => {
            let call_id = read_bind(&mut s).await;
            let mut pdu = header(12, 65_535, call_id);
            pdu.resize(100, 0x41);
            let _ = s.write_all(&pdu).await;
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        Behaviour::Garbage => {
            let _ = read_bind(&mut s).await;
            let junk: Vec<u8> = (0..256u32).map(|i| (i * 37 + 11) as u8).collect();
            let _ = s.write_all(&junk).await;
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        Behaviour::Reset => {
            let _ = read_bind(&mut s).await;
            // SO_LINGER 0: close sends an RST (tokio deprecates the setter because the
            // close may block; with 0 it does not).
            #[allow(deprecated)]
            let _ = s.set_linger(Some(Duration::ZERO));
            drop(s);
        }
        Behaviour::UnknownBindNak => {
            let call_id = read_bind(&mut s).await;
            // provider_reject_reason, then p_rt_versions_supported: one version, 5.0.
            let body = [0x77u8, 0x77, 1, 5, 0];
            let mut pdu = header(13, (16 + body.len()) as u16, call_id);
            pdu.extend_from_slice(&body);
            let _ = s.write_all(&pdu).await;
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        Behaviour::Shutdown => {
            let call_id = read_bind(&mut s).await;
            let _ = s.write_all(&header(17, 16, call_id)).await;
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
}

/// Serves `b` on `addr`, port chosen by the system, on a runtime of its own.
fn fake_endpoint(addr: &str, b: Behaviour) -> (u16, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(TcpListener::bind((addr, 0))).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(behave(s, b));
        }
    });
    (port, rt)
}

fn endpoint_case(addr: &str, b: Behaviour, codes: &[i32]) {
    let Some(bin) = winventory() else {
        return;
    };
    let (port, rt) = fake_endpoint(addr, b);
    let secs = 3;
    let o = query(&bin, addr, port, "SELECT Name FROM Win32_Service", secs);
    check(
        &o,
        &format!("{b:?}"),
        codes,
        "bind-135",
        Duration::from_secs(secs),
    );
    // The reason is said once, never "bind rejected: bind rejected: ...".
    assert!(
        !o.stderr.contains("bind rejected: bind rejected"),
        "{b:?}: {}",
        o.stderr
    );
    rt.shutdown_background();
}

#[test]
fn silence_at_the_bind_times_out() {
    // A deadline while connecting is a connection failure (`winventory --help`).
    endpoint_case("127.0.61.1", Behaviour::Silence, &[EXIT_CONNECTION]);
}

#[test]
fn trickled_bytes_hit_the_call_deadline() {
    // A deadline while connecting is a connection failure (`winventory --help`).
    endpoint_case("127.0.61.2", Behaviour::Trickle, &[EXIT_CONNECTION]);
}

#[test]
fn a_header_claiming_65535_octets_times_out() {
    // A deadline while connecting is a connection failure (`winventory --help`).
    endpoint_case("127.0.61.3", Behaviour::OversizeHeader, &[EXIT_CONNECTION]);
}

#[test]
fn garbage_is_a_connection_failure() {
    endpoint_case("127.0.61.4", Behaviour::Garbage, &[EXIT_CONNECTION]);
}

#[test]
fn reset_is_a_connection_failure() {
    endpoint_case("127.0.61.5", Behaviour::Reset, &[EXIT_CONNECTION]);
}

#[test]
fn unknown_bind_nak_reason_is_a_connection_failure() {
    endpoint_case("127.0.61.6", Behaviour::UnknownBindNak, &[EXIT_CONNECTION]);
}

#[test]
fn shutdown_pdu_at_the_bind_is_a_connection_failure() {
    endpoint_case("127.0.61.7", Behaviour::Shutdown, &[EXIT_CONNECTION]);
}

// ------------------------------------------------------------- the authenticated endpoint

/// What the authenticated fake endpoint does with the first call (the activation), after
/// a real NTLM bind at packet privacy (winv-dcerpc's `ServerAssociation`, winv-auth's
/// `NtlmServer` with the test user).
#[derive(Clone, Copy, Debug)]
enum AfterBind {
    /// A shutdown PDU ([C706] 12.6.4.11).
    Shutdown,
    /// The sealed response with its call_id changed (header signing off, so that the
    /// change is not a bad signature).
    UnknownCallId,
    /// The sealed response with one octet of the sealed stub flipped.
    FlippedSealedByte,
    /// A response without a security trailer, at packet privacy.
    UnsignedAtPrivacy,
    /// An RPC fault, then silence on every later call.
    FaultThenSilence,
    /// A bind_ack whose max_xmit_frag and max_recv_frag are 40 ([C706] 12.6.4.4): no room
    /// for a signed request. (A bind_ack is not signed, so the change shows only as sizes.)
    TinyMaxFrag,
}

struct TestPolicy;

impl winv_dcerpc::ServerPolicy for TestPolicy {
    fn accepts(&self, interface: &winv_dcerpc::SyntaxId) -> bool {
        *interface == winv_dcerpc::interfaces::ISYSTEMACTIVATOR
    }
    fn security(
        &mut self,
        auth_type: winv_auth::AuthType,
    ) -> Option<Box<dyn winv_auth::SecurityContext>> {
        if auth_type != winv_auth::AuthType::WinNt {
            return None;
        }
        let mut server = winv_auth::ntlm::NtlmServer::new(winv_auth::ntlm::NtlmTarget {
            nb_computer_name: "HOSTILE".into(),
            nb_domain_name: "LAB".into(),
            dns_computer_name: "hostile.lab.test".into(),
            dns_domain_name: "lab.test".into(),
        });
        server.add_user(
            "admin",
            "LAB",
            winv_auth::ntlm::NtlmSecret::from_password(PASSWORD),
        );
        Some(Box::new(server))
    }
}

async fn behave_after_bind(mut s: TcpStream, b: AfterBind) {
    use winv_dcerpc::framer::PduBuffer;
    use winv_dcerpc::server::Incoming;
    let config = winv_dcerpc::ServerConfig {
        header_signing: !matches!(b, AfterBind::UnknownCallId),
        ..winv_dcerpc::ServerConfig::default()
    };
    let mut assoc = winv_dcerpc::ServerAssociation::new(config, Box::new(TestPolicy));
    let mut buf = PduBuffer::new(65_535);
    let mut chunk = vec![0u8; 8192];
    let mut silent = false;
    loop {
        let pdu = match buf.next_pdu() {
            Ok(Some(p)) => p,
            Ok(None) => match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.extend(&chunk[..n]);
                    continue;
                }
            },
            Err(_) => return,
        };
        if silent {
            continue;
        }
        let out = match assoc.receive(&pdu) {
            Ok(Incoming::Send(mut pdus)) => {
                if matches!(b, AfterBind::TinyMaxFrag) {
                    for p in &mut pdus {
                        if p.get(2) == Some(&12) && p.len() >= 20 {
                            p[16..18].copy_from_slice(&40u16.to_le_bytes());
                            p[18..20].copy_from_slice(&40u16.to_le_bytes());
                        }
                    }
                }
                pdus
            }
            Ok(Incoming::Nothing) => continue,
            Ok(Incoming::Call(call)) => {
                // Any stub: the client never gets to decode it.
                let stub = vec![0u8; 64];
                match b {
                    AfterBind::Shutdown => vec![header(17, 16, call.call_id)],
                    AfterBind::UnknownCallId => {
                        let mut frags = assoc.respond(call.call_id, &stub).unwrap();
                        for f in &mut frags {
                            f[12..16].copy_from_slice(&(call.call_id + 1000).to_le_bytes());
                        }
                        frags
                    }
                    AfterBind::FlippedSealedByte => {
                        let mut frags = assoc.respond(call.call_id, &stub).unwrap();
                        frags[0][30] ^= 0x01;
                        frags
                    }
                    AfterBind::UnsignedAtPrivacy => {
                        let mut p = header(2, (24 + stub.len()) as u16, call.call_id);
                        p.extend_from_slice(&(stub.len() as u32).to_le_bytes());
                        p.extend_from_slice(&call.context_id.to_le_bytes());
                        p.extend_from_slice(&[0, 0]);
                        p.extend_from_slice(&stub);
                        vec![p]
                    }
                    // Never reached if the client refuses the sizes.
                    AfterBind::TinyMaxFrag => vec![header(17, 16, call.call_id)],
                    AfterBind::FaultThenSilence => {
                        silent = true;
                        vec![assoc.fault(call.call_id, 0x6be, false).unwrap()]
                    }
                }
            }
            Err(_) => return,
        };
        for p in out {
            if s.write_all(&p).await.is_err() {
                return;
            }
        }
    }
}

fn authenticated_endpoint(addr: &str, b: AfterBind) -> (u16, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(TcpListener::bind((addr, 0))).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(behave_after_bind(s, b));
        }
    });
    (port, rt)
}

/// `codes`: the exit codes accepted: a protocol error after the bind (a shutdown PDU, a PDU
/// for another call, a fragment size too small to sign) is an RPC error, 5, as
/// `query --help` documents; the stage, the time and the memory are asserted too.
fn after_bind_case(
    addr: &str,
    b: AfterBind,
    codes: &[i32],
    stage: &str,
    deadline: u64,
) -> Option<Outcome> {
    let bin = winventory()?;
    let (port, rt) = authenticated_endpoint(addr, b);
    let secs = 20;
    let o = query(&bin, addr, port, "SELECT Name FROM Win32_Service", secs);
    eprintln!("{b:?}: {o:?}");
    check(
        &o,
        &format!("{b:?}"),
        codes,
        stage,
        Duration::from_secs(deadline),
    );
    rt.shutdown_background();
    Some(o)
}

#[test]
fn shutdown_pdu_after_the_bind() {
    after_bind_case(
        "127.0.61.10",
        AfterBind::Shutdown,
        &[EXIT_WMI],
        "activation",
        1,
    );
}

#[test]
fn a_response_for_an_unknown_call_id() {
    after_bind_case(
        "127.0.61.11",
        AfterBind::UnknownCallId,
        &[EXIT_WMI],
        "activation",
        1,
    );
}

#[test]
fn a_flipped_sealed_byte_is_refused() {
    // The first response after NTLM's auth3 does not verify: the keys do not match, which
    // the client takes for a refused logon (the bind's last leg, access class).
    after_bind_case(
        "127.0.61.12",
        AfterBind::FlippedSealedByte,
        &[EXIT_ACCESS],
        "bind-135",
        1,
    );
}

#[test]
fn an_unsigned_response_at_privacy_is_refused() {
    after_bind_case(
        "127.0.61.13",
        AfterBind::UnsignedAtPrivacy,
        &[EXIT_ACCESS],
        "bind-135",
        1,
    );
}

#[test]
fn a_fault_at_the_activation_then_silence() {
    // The fault is the answer: reported at once (the release has nothing to release yet).
    after_bind_case(
        "127.0.61.14",
        AfterBind::FaultThenSilence,
        &[EXIT_WMI],
        "activation",
        1,
    );
}

// ------------------------------------------------------------------ the hostile simulator

/// Serves one simulated host with `faults` on its own runtime; returns its port 135.
fn hostile_sim(
    addr: &str,
    faults: &str,
) -> (u16, tokio::runtime::Runtime, winv_sim::server::SimServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (sim, _) = rt
        .block_on(serve_one_host(addr, faults, PW_ENV, PASSWORD, 61))
        .unwrap();
    (sim.epm_port, rt, sim)
}

#[test]
fn endless_enumeration_ends_at_the_budget_in_bounded_memory() {
    let Some(bin) = winventory() else {
        return;
    };
    let addr = "127.0.61.20";
    let (port, rt, _sim) = hostile_sim(
        addr,
        r#"{ kind = "endless_enumeration", class = "Win32_Service" }"#,
    );
    let secs = 20;
    let o = query(&bin, addr, port, "SELECT * FROM Win32_Service", secs);
    eprintln!("endless: {o:?}");
    check(
        &o,
        "endless",
        &[EXIT_WMI],
        "enumerate",
        Duration::from_secs(secs),
    );
    assert!(o.stderr.contains("WINV_E_LIMIT_EXCEEDED"), "{}", o.stderr);
    rt.shutdown_background();
}

#[test]
fn zero_object_answers_are_not_polled_in_a_busy_loop() {
    let Some(bin) = winventory() else {
        return;
    };
    let addr = "127.0.61.21";
    let (port, rt, _sim) = hostile_sim(
        addr,
        r#"{ kind = "empty_enumeration", class = "Win32_Service" }"#,
    );
    let secs = 4;
    let o = query(&bin, addr, port, "SELECT * FROM Win32_Service", secs);
    eprintln!("empty: {o:?}");
    // No object for the call deadline: a query timeout, after about `secs`.
    check(
        &o,
        "empty",
        &[EXIT_TIMEOUT],
        "enumerate",
        Duration::from_secs(secs),
    );
    assert!(o.elapsed >= Duration::from_secs(secs), "{:?}", o.elapsed);
    // Polled with a back-off: little CPU in those seconds (a busy loop spends them all).
    assert!(o.cpu_s < 1.0, "{} s of CPU in {:?}", o.cpu_s, o.elapsed);
    rt.shutdown_background();
}

#[test]
fn a_fault_then_silence_is_reported_without_waiting_the_call_deadline() {
    let Some(bin) = winventory() else {
        return;
    };
    let addr = "127.0.61.22";
    let (port, rt, _sim) = hostile_sim(
        addr,
        r#"{ kind = "fault_then_silence", class = "Win32_Service" }"#,
    );
    let secs = 30;
    let o = query(&bin, addr, port, "SELECT * FROM Win32_Service", secs);
    eprintln!("fault then silence: {o:?}");
    // The fault is the answer; releasing references after it has a deadline of its own
    // (3 s), not the 30 s of a call.
    check(
        &o,
        "fault then silence",
        &[EXIT_WMI],
        "query",
        Duration::from_secs(4),
    );
    assert!(o.stderr.contains("rpc fault"), "{}", o.stderr);
    rt.shutdown_background();
}

/// One batch every 400 ms, forever: progress, so the call deadline never fires; the
/// enumeration's own time budget ends it, with the per-item code, for both enumerators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endless_enumeration_ends_at_the_time_budget() {
    use winv_client::{Credentials, WmiClient, WmiOptions};
    let addr = "127.0.61.23";
    let (sim, _) = serve_one_host(
        addr,
        r#"{ kind = "endless_enumeration", class = "Win32_Service" },
           { kind = "provider_slow", class = "Win32_Service", delay_ms = 400 }"#,
        PW_ENV,
        PASSWORD,
        62,
    )
    .await
    .unwrap();
    for smart in [true, false] {
        let opts = WmiOptions {
            auth_level: winv_auth::AuthLevel::PktPrivacy,
            epm_port: sim.epm_port,
            deadlines: winv_rpc::Deadlines {
                connect: Duration::from_secs(3),
                read: Duration::from_secs(3),
                call: Duration::from_secs(3),
            },
            smart_enum: smart,
            batch_size: 4,
            max_query_time: Duration::from_secs(2),
            ..WmiOptions::default()
        };
        let creds = Credentials::with_password("admin", "LAB", PASSWORD);
        let mut c = WmiClient::connect(addr, creds, opts).await.unwrap();
        let start = Instant::now();
        let e = c.query("SELECT * FROM Win32_Service").await.unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.stage().as_str(), "enumerate", "{e}");
        assert!(
            matches!(e.cause(), winv_client::Cause::Hresult(c) if *c == winv_kb::WINV_E_LIMIT_EXCEEDED),
            "{e}"
        );
        // The budget, plus at most one batch's delay and the release.
        assert!(took >= Duration::from_secs(2), "{took:?}");
        assert!(took < Duration::from_secs(4), "{took:?}");
        let _ = c.close().await;
    }
    sim.stop().await;
}

#[test]
fn a_max_recv_frag_too_small_to_sign() {
    let o = after_bind_case(
        "127.0.61.15",
        AfterBind::TinyMaxFrag,
        &[EXIT_WMI],
        "activation",
        1,
    );
    if let Some(o) = o {
        // Refused before the request was sent: the server's shutdown reply never came.
        assert!(o.stderr.contains("max_xmit_frag"), "{}", o.stderr);
    }
}

#[test]
fn a_rejected_alter_context() {
    let Some(bin) = winventory() else {
        return;
    };
    let addr = "127.0.61.24";
    let (port, rt, _sim) = hostile_sim(addr, r#"{ kind = "reject_alter_context" }"#);
    let secs = 10;
    let o = query(&bin, addr, port, "SELECT * FROM Win32_Service", secs);
    eprintln!("rejected alter_context: {o:?}");
    // An RPC error (5), as `query --help` documents.
    check(
        &o,
        "rejected alter_context",
        &[EXIT_WMI],
        "query",
        Duration::from_secs(1),
    );
    assert!(o.stderr.contains("reject"), "{}", o.stderr);
    rt.shutdown_background();
}

// ------------------------------------------------------------------ diagnose

/// Runs `winventory diagnose ADDR --json` against port `port` with every deadline `secs`;
/// kills it after a minute past four of them (a hang is a failure).
fn diagnose(bin: &PathBuf, addr: &str, port: u16, secs: u64) -> Outcome {
    let port = port.to_string();
    let t = secs.to_string();
    let args = [
        "diagnose",
        addr,
        "--user",
        "LAB\\admin",
        "--password-env",
        PW_ENV,
        "--port",
        &port,
        "--connect-timeout",
        &t,
        "--call-timeout",
        &t,
        "--json",
    ];
    run(bin, &args, Duration::from_secs(4 * secs + 60))
}

/// The common assertions for `diagnose --json`: exit code, the stage its failure names
/// (and its code's name when given), time, memory, no ANSI codes.
fn check_diagnose(
    o: &Outcome,
    what: &str,
    exit: i32,
    stage: &str,
    code_name: Option<&str>,
    deadline: Duration,
) {
    eprintln!(
        "diagnose {what}: exit {:?} in {:?}, VmHWM {} KiB, CPU {:.2} s",
        o.code, o.elapsed, o.hwm_kib, o.cpu_s
    );
    assert_eq!(o.code, Some(exit), "{what}: {} {}", o.stdout, o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", o.stdout));
    assert_eq!(v["failure"]["stage"], stage, "{what}: {}", v["failure"]);
    if let Some(name) = code_name {
        assert_eq!(v["failure"]["code_name"], name, "{what}: {}", v["failure"]);
    }
    assert_eq!(v["exit_code"], exit, "{what}");
    assert!(
        o.elapsed <= deadline + Duration::from_secs(1),
        "{what}: took {:?}, deadline {deadline:?}",
        o.elapsed
    );
    assert!(o.hwm_kib > 0, "{what}: VmHWM never read");
    assert!(
        o.hwm_kib < MAX_HWM_KIB,
        "{what}: peak resident memory {} KiB",
        o.hwm_kib
    );
    assert!(
        !o.stderr.contains('\u{1b}') && !o.stdout.contains('\u{1b}'),
        "{what}: ANSI codes"
    );
}

/// Each behaviour of the fake endpoint, diagnosed: the failure at bind-135, exit 3 (a
/// deadline while connecting is a connection failure, as for `query`), within the call
/// deadline. (127.0.121.1-7)
#[test]
fn diagnose_against_the_fake_endpoint() {
    let Some(bin) = winventory() else {
        return;
    };
    let secs = 3;
    let cases = [
        Behaviour::Silence,
        Behaviour::Trickle,
        Behaviour::OversizeHeader,
        Behaviour::Garbage,
        Behaviour::Reset,
        Behaviour::UnknownBindNak,
        Behaviour::Shutdown,
    ];
    for (i, b) in cases.into_iter().enumerate() {
        let addr = format!("127.0.121.{}", i + 1);
        let (port, rt) = fake_endpoint(&addr, b);
        let o = diagnose(&bin, &addr, port, secs);
        let what = format!("{b:?}");
        check_diagnose(
            &o,
            &what,
            EXIT_CONNECTION,
            "bind-135",
            None,
            Duration::from_secs(secs),
        );
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        assert!(
            !v["failure"]
                .to_string()
                .contains("bind rejected: bind rejected"),
            "{what}: {}",
            v["failure"]
        );
        rt.shutdown_background();
    }
}

/// The authenticated fake endpoint, diagnosed: the exit code and stage `query` gets, at
/// once (every behaviour answers; the fault then silence releases nothing yet).
/// (127.0.121.10-15)
#[test]
fn diagnose_against_the_authenticated_endpoint() {
    let Some(bin) = winventory() else {
        return;
    };
    let secs = 20;
    let cases = [
        (AfterBind::Shutdown, EXIT_WMI, "activation"),
        (AfterBind::UnknownCallId, EXIT_WMI, "activation"),
        (AfterBind::FlippedSealedByte, EXIT_ACCESS, "bind-135"),
        (AfterBind::UnsignedAtPrivacy, EXIT_ACCESS, "bind-135"),
        (AfterBind::FaultThenSilence, EXIT_WMI, "activation"),
        (AfterBind::TinyMaxFrag, EXIT_WMI, "activation"),
    ];
    for (i, (b, exit, stage)) in cases.into_iter().enumerate() {
        let addr = format!("127.0.121.{}", i + 10);
        let (port, rt) = authenticated_endpoint(&addr, b);
        let o = diagnose(&bin, &addr, port, secs);
        check_diagnose(
            &o,
            &format!("{b:?}"),
            exit,
            stage,
            None,
            Duration::from_secs(1),
        );
        rt.shutdown_background();
    }
}

/// The hostile simulator, diagnosed, with the faults on the class a diagnosis queries
/// (`Win32_OperatingSystem`). Bounds, with every deadline `secs`: an endless enumeration
/// ends at the diagnosis' result budget (1 MiB) at once; zero objects at once, S_OK,
/// forever, is a timeout after a call deadline (polled with a back-off: little CPU); a
/// fault then silence is reported after the release's own deadline (3 s), not a call
/// deadline; a slow endless enumeration ends at its time budget, two call deadlines; a
/// rejected alter_context at once. (127.0.121.20-24)
#[test]
fn diagnose_against_the_hostile_simulator() {
    let Some(bin) = winventory() else {
        return;
    };
    let secs = 5;
    let release = Duration::from_secs(3);
    let call = Duration::from_secs(secs);
    let limit = Some("WINV_E_LIMIT_EXCEEDED");
    let os = "Win32_OperatingSystem";
    let cases = [
        (
            format!(r#"{{ kind = "endless_enumeration", class = "{os}" }}"#),
            EXIT_WMI,
            "enumerate",
            limit,
            Duration::from_secs(2),
        ),
        (
            format!(r#"{{ kind = "empty_enumeration", class = "{os}" }}"#),
            EXIT_TIMEOUT,
            "enumerate",
            None,
            call,
        ),
        (
            format!(r#"{{ kind = "fault_then_silence", class = "{os}" }}"#),
            EXIT_WMI,
            "query",
            Some("RPC_S_CALL_FAILED"),
            release,
        ),
        (
            format!(
                r#"{{ kind = "endless_enumeration", class = "{os}" }},
                   {{ kind = "provider_slow", class = "{os}", delay_ms = 400 }}"#
            ),
            EXIT_WMI,
            "enumerate",
            limit,
            call * 2,
        ),
        (
            r#"{ kind = "reject_alter_context" }"#.to_string(),
            EXIT_WMI,
            "query",
            None,
            Duration::from_secs(1),
        ),
    ];
    for (i, (faults, exit, stage, code, deadline)) in cases.into_iter().enumerate() {
        let addr = format!("127.0.121.{}", i + 20);
        let (port, rt, _sim) = hostile_sim(&addr, &faults);
        let o = diagnose(&bin, &addr, port, secs);
        check_diagnose(&o, &faults, exit, stage, code, deadline);
        if exit == EXIT_TIMEOUT {
            assert!(o.elapsed >= call, "{faults}: {:?}", o.elapsed);
            assert!(o.cpu_s < 1.0, "{faults}: {} s of CPU", o.cpu_s);
        }
        rt.shutdown_background();
    }
}

// ------------------------------------------------------------------ the re-sealing proxy

/// A healthy simulated host at `upstream` behind the re-sealing proxy at `listen` doing
/// `b`, on one runtime of their own; returns the proxy's port 135.
fn proxied(
    listen: &str,
    upstream: &str,
    b: reseal::Behaviour,
) -> (
    u16,
    tokio::runtime::Runtime,
    winv_sim::server::SimServer,
    ResealProxy,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let route = Route {
        listen: listen.parse().unwrap(),
        upstream: upstream.parse().unwrap(),
        behaviour: b,
    };
    // The proxy listens on the upstream's dynamic port (the OXID bindings name it), which
    // the system chose on another address: a socket of another test on the wildcard
    // address can hold that number here. Then another upstream, with another port.
    let mut tries = 0;
    loop {
        let (sim, _) = rt
            .block_on(serve_one_host(upstream, "", PW_ENV, PASSWORD, 61))
            .unwrap();
        match rt.block_on(ResealProxy::start(
            &[route],
            sim.epm_port,
            sim.dynamic_port,
            PASSWORD,
        )) {
            Ok(proxy) => return (proxy.epm_port, rt, sim, proxy),
            Err(e) if tries < 5 && format!("{e:#}").contains("in use") => tries += 1,
            Err(e) => panic!("proxy at {listen}: {e:#}"),
        }
    }
}

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::Relaxed)
}

/// Re-sealing changes nothing by itself: the proxy's answer equals the simulator's own,
/// byte for byte on standard output; so does an answer whose every response claims an
/// `alloc_hint` of 4 GiB (a hint, not a size to reserve: memory stays bounded).
/// (127.0.140.1-2 in front of 127.0.141.1-2)
#[test]
fn the_re_sealing_proxy_is_invisible_and_an_alloc_hint_is_only_a_hint() {
    let Some(bin) = winventory() else {
        return;
    };
    let wql = "SELECT Name, State FROM Win32_Service";
    for (i, b) in [
        reseal::Behaviour::Passthrough,
        reseal::Behaviour::HugeAllocHint,
    ]
    .into_iter()
    .enumerate()
    {
        let (listen, up) = (
            format!("127.0.140.{}", i + 1),
            format!("127.0.141.{}", i + 1),
        );
        let (port, rt, sim, proxy) = proxied(&listen, &up, b);
        let direct = query(&bin, &up, sim.epm_port, wql, 5);
        assert_eq!(direct.code, Some(0), "direct: {}", direct.stderr);
        let o = query(&bin, &listen, port, wql, 5);
        eprintln!("{b:?}: {o:?}");
        assert_eq!(o.code, Some(0), "{b:?}: {}", o.stderr);
        assert!(o.stdout.lines().count() > 10, "{b:?}: {}", o.stdout);
        assert_eq!(o.stdout, direct.stdout, "{b:?}: the proxied answer differs");
        assert!(o.hwm_kib < MAX_HWM_KIB, "{b:?}: {} KiB", o.hwm_kib);
        // Both connections' logons were relayed and their keys derived; every sealed
        // answer went through the proxy's seal.
        assert_eq!(count(&proxy.counts.sessions), 2, "{b:?}");
        assert_eq!(count(&proxy.counts.unreadable), 0, "{b:?}");
        assert!(count(&proxy.counts.resealed) >= 5, "{b:?}");
        let tampered = count(&proxy.counts.tampered);
        match b {
            reseal::Behaviour::Passthrough => assert_eq!(tampered, 0),
            _ => assert!(tampered >= 5, "{b:?}: {tampered}"),
        }
        drop(proxy);
        rt.shutdown_background();
    }
}

/// A sealed enumeration answer whose fragments never end, every fragment correctly signed
/// and sealed, is refused once its reassembly passes the client's response limit (4 MiB),
/// at the enumeration, within the call deadline and in bounded memory. (127.0.140.3)
#[test]
fn endless_sealed_fragments_stop_at_the_reassembly_limit() {
    let Some(bin) = winventory() else {
        return;
    };
    let secs = 5;
    let (port, rt, _sim, proxy) = proxied(
        "127.0.140.3",
        "127.0.141.3",
        reseal::Behaviour::EndlessFragments,
    );
    let o = query(
        &bin,
        "127.0.140.3",
        port,
        "SELECT Name FROM Win32_Service",
        secs,
    );
    eprintln!("endless fragments: {o:?}");
    check(
        &o,
        "endless fragments",
        &[EXIT_WMI],
        "enumerate",
        Duration::from_secs(secs),
    );
    assert!(o.stderr.contains("too large"), "{}", o.stderr);
    // The client really was sent past its limit, and stopped reading soon after.
    let sent = count(&proxy.counts.octets_to_clients);
    assert!(sent > 4 << 20, "{sent} octets sent");
    assert!(sent < 64 << 20, "{sent} octets sent");
    drop(proxy);
    rt.shutdown_background();
}

/// Answers damaged above a valid seal, each classified with its exit code and stage,
/// within the call deadline, one error line: a cut enumeration answer (malformed), the
/// query's answer sent twice (a PDU for a call already answered), an enumeration answer
/// for another call, a replayed sealed answer under the current call id (it fails
/// verification: the sequence number and key stream are spent; the security layer's
/// class, 4, as a flipped sealed byte), and a sealed fault in
/// place of the answer, with a status no table names and with access denied.
/// (127.0.140.10-15)
#[test]
fn damaged_answers_under_valid_seals_are_classified() {
    let Some(bin) = winventory() else {
        return;
    };
    use reseal::Behaviour as B;
    let secs = 5;
    let cases = [
        (
            B::TruncatedEnumeration,
            EXIT_WMI,
            "enumerate",
            "malformed reply",
        ),
        (
            B::DuplicateQueryAnswer,
            EXIT_WMI,
            "enumerate",
            "unknown call_id",
        ),
        (B::WrongCallId, EXIT_WMI, "enumerate", "unknown call_id"),
        (B::Replay, EXIT_ACCESS, "enumerate", "failed verification"),
        (
            B::FaultInstead(0xdead_beef),
            EXIT_WMI,
            "enumerate",
            "0xdeadbeef",
        ),
        (
            B::FaultInstead(5),
            EXIT_ACCESS,
            "enumerate",
            "ERROR_ACCESS_DENIED",
        ),
    ];
    for (i, (b, exit, stage, says)) in cases.into_iter().enumerate() {
        let (listen, up) = (
            format!("127.0.140.{}", i + 10),
            format!("127.0.141.{}", i + 10),
        );
        let (port, rt, _sim, proxy) = proxied(&listen, &up, b);
        let o = query(&bin, &listen, port, "SELECT Name FROM Win32_Service", secs);
        eprintln!("{b:?}: {o:?}");
        check(
            &o,
            &format!("{b:?}"),
            &[exit],
            stage,
            Duration::from_secs(secs),
        );
        assert!(o.stderr.contains(says), "{b:?}: {}", o.stderr);
        assert!(
            count(&proxy.counts.tampered) >= 1,
            "{b:?}: the proxy did nothing"
        );
        drop(proxy);
        rt.shutdown_background();
    }
}

/// Two hundred answers damaged at random (one per run, on the dynamic port: bits flipped, a
/// word set to a huge count, a stub cut or lengthened), each re-sealed so that only the
/// decoders above the seal see it: no run panics, hangs or balloons. Each exits with a
/// documented code within the call deadline and under 64 MiB; a failure is one error line
/// naming its stage. Across the runs the damage reached the decoders (most runs were
/// damaged, and some failed). (127.0.142.x in front of 127.0.143.x)
#[test]
fn randomly_damaged_answers_never_panic_hang_or_balloon() {
    let Some(bin) = winventory() else {
        return;
    };
    const RUNS: u64 = 200;
    let secs = 5;
    let (mut damaged, mut failed) = (0, 0);
    let mut by_code = std::collections::BTreeMap::new();
    for seed in 0..RUNS {
        let (listen, up) = (
            format!("127.0.142.{}", seed + 1),
            format!("127.0.143.{}", seed + 1),
        );
        let (port, rt, _sim, proxy) = proxied(&listen, &up, reseal::Behaviour::Mutate(seed));
        let o = query(&bin, &listen, port, "SELECT * FROM Win32_Service", secs);
        let what = format!("seed {seed}");
        assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
        assert!(
            o.code.is_some_and(
                |c| [0, EXIT_CONNECTION, EXIT_ACCESS, EXIT_WMI, EXIT_TIMEOUT].contains(&c)
            ),
            "{what}: exit {:?}: {}",
            o.code,
            o.stderr
        );
        assert!(
            o.elapsed <= Duration::from_secs(secs + 1),
            "{what}: took {:?}",
            o.elapsed
        );
        assert!(o.hwm_kib < MAX_HWM_KIB, "{what}: {} KiB", o.hwm_kib);
        if o.code != Some(0) {
            failed += 1;
            let lines: Vec<_> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert!(
                lines.first().is_some_and(|l| l.contains(" failed at ")),
                "{what}: {}",
                o.stderr
            );
        }
        damaged += u64::from(count(&proxy.counts.tampered) > 0);
        *by_code.entry(o.code).or_insert(0) += 1;
        drop(proxy);
        rt.shutdown_background();
    }
    eprintln!("damaged {damaged} of {RUNS} runs; exits {by_code:?}");
    assert!(damaged >= RUNS / 2, "only {damaged} runs were damaged");
    assert!(
        failed >= RUNS / 5,
        "only {failed} runs failed: the damage never reached a decoder"
    );
}

/// `diagnose` through the re-sealing proxy: unchanged answers diagnose clean; endless
/// sealed fragments and a cut enumeration answer fail at the enumeration, exit 5, at once
/// and in bounded memory. (127.0.140.20-22)
#[test]
fn diagnose_through_the_re_sealing_proxy() {
    let Some(bin) = winventory() else {
        return;
    };
    use reseal::Behaviour as B;
    let secs = 5;
    let (port, rt, _sim, _proxy) = proxied("127.0.140.20", "127.0.141.20", B::Passthrough);
    let o = diagnose(&bin, "127.0.140.20", port, secs);
    assert_eq!(o.code, Some(0), "{} {}", o.stdout, o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["failure"].is_null(), "{}", v["failure"]);
    rt.shutdown_background();
    for (i, b) in [B::EndlessFragments, B::TruncatedEnumeration]
        .into_iter()
        .enumerate()
    {
        let (listen, up) = (
            format!("127.0.140.{}", i + 21),
            format!("127.0.141.{}", i + 21),
        );
        let (port, rt, _sim, _proxy) = proxied(&listen, &up, b);
        let o = diagnose(&bin, &listen, port, secs);
        check_diagnose(
            &o,
            &format!("{b:?}"),
            EXIT_WMI,
            "enumerate",
            None,
            Duration::from_secs(secs),
        );
        rt.shutdown_background();
    }
}
