//! Hostile servers: `winventory query` against hosts that answer whatever they like, over
//! loopback. Each behaviour is asserted for its exit code, the stage the error names, a
//! bound on time (the deadline given plus a second) and on the peak resident memory of the
//! `winventory` process (VmHWM from `/proc`, under 64 MiB).
//!
//! Two kinds of server:
//! - a fake DCE/RPC endpoint on port 135 written here on raw TCP (silence, trickled bytes,
//!   a header claiming 65,535 octets, garbage, an RST, a bind_nak with a reason no
//!   specification names, a shutdown PDU instead of the bind_ack);
//! - the simulator with its hostile faults (`endless_enumeration`, `empty_enumeration`,
//!   `fault_then_silence`; docs/fleet.md), which speaks the whole flow (NTLM at packet
//!   privacy, activation, OXID, login) and misbehaves in the enumeration.
//!
//! `winventory` must be built (`cargo build -p winventory`, which `cargo nextest run
//! --workspace` does); the tests skip without it, and fail under CI=true.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winv_testsuite::fixtures::skip_or_fail;
use winv_testsuite::sim::serve_one_host;

const PW_ENV: &str = "WINV_HOSTILE_PASSWORD";
const PASSWORD: &str = "Hostile-Passw0rd!";
/// Peak resident memory allowed for one `winventory query`.
const MAX_HWM_KIB: u64 = 64 * 1024;

/// exit codes of `winventory query --help`.
const EXIT_CONNECTION: i32 = 3;
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
    stderr: String,
    elapsed: Duration,
    /// VmHWM of the child, KiB.
    hwm_kib: u64,
    /// User + system CPU of the child, seconds (from /proc/PID/stat, 100 Hz ticks).
    cpu_s: f64,
}

fn proc_field(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Runs `winventory query` against `addr:port` with `--timeout secs`, sampling the child's
/// VmHWM and CPU until it exits; kills it after `secs + 30` s (a hang is a failure).
fn query(bin: &PathBuf, addr: &str, port: u16, wql: &str, secs: u64) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args([
            "query",
            addr,
            wql,
            "--user",
            "LAB\\admin",
            "--password-env",
            PW_ENV,
            "--port",
            &port.to_string(),
            "--timeout",
            &secs.to_string(),
        ])
        .env(PW_ENV, PASSWORD)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut hwm = 0;
    let mut cpu = 0.0;
    let status = loop {
        if let Some(v) = proc_field(pid, "VmHWM:") {
            hwm = hwm.max(v);
        }
        if let Some(c) = proc_cpu(pid) {
            cpu = c;
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(secs + 30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("winventory query still running after {:?}", start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Outcome {
        code: status.code(),
        stderr,
        elapsed,
        hwm_kib: hwm,
        cpu_s: cpu,
    }
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
    assert_eq!(
        o.stderr.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{what}: one error line, not: {}",
        o.stderr
    );
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
    // Not asserted yet: the bind_nak's text says "bind rejected: bind rejected: ..."
    // (winv-client's `Cause::BindRejected` wraps winv-dcerpc's message, which starts the
    // same way); reported for the owner of winv-client's error.rs.
    rt.shutdown_background();
}

#[test]
fn silence_at_the_bind_times_out() {
    endpoint_case("127.0.61.1", Behaviour::Silence, &[EXIT_TIMEOUT]);
}

#[test]
fn trickled_bytes_hit_the_call_deadline() {
    endpoint_case("127.0.61.2", Behaviour::Trickle, &[EXIT_TIMEOUT]);
}

#[test]
fn a_header_claiming_65535_octets_times_out() {
    endpoint_case("127.0.61.3", Behaviour::OversizeHeader, &[EXIT_TIMEOUT]);
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
