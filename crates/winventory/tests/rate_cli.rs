//! `scan --rate N` caps new TCP connections per second across the scan, measured where
//! they arrive: the simulator records the time of every accepted connection. An attempt
//! opens two (port 135 and the dynamic port), so a cap on attempts would let twice the
//! rate through.
//!
//! Addresses: 127.0.90.1-30.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Command;
use std::time::Duration;

use winv_sim::fleet::Fleet;
use winv_sim::server::{most_in_window, ListenOptions};
use winv_testsuite::sim::SimHandle;

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const HOSTS: usize = 30;
const PW_VAR: &str = "WINV_RATE_SIM_PW";
const PW: &str = "Rate-Sim-Pw-4410!";

/// Scans the fleet with `rate`; returns the accept times of this scan and the output.
fn scan(sim: &SimHandle, rate: &str, db: &std::path::Path) -> (Vec<Duration>, String) {
    let before = sim.accepts.times().len();
    let out = Command::new(BIN)
        .args(["scan", &format!("127.0.90.1-127.0.90.{HOSTS}"), "--user", "LAB\\admin"])
        .args(["--password-env", PW_VAR, "--db"])
        .arg(db)
        .args(["--port", &sim.epm_port.to_string(), "--rate", rate, "--concurrency", "64"])
        .args(["--connect-timeout", "2", "--call-timeout", "5"])
        .env(PW_VAR, PW)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let times = sim.accepts.times()[before..].to_vec();
    (times, text)
}

#[test]
fn rate_caps_tcp_connections_per_second() {
    std::env::set_var(PW_VAR, PW);
    let addrs: Vec<std::net::IpAddr> =
        (1..=HOSTS).map(|i| format!("127.0.90.{i}").parse().unwrap()).collect();
    let fleet = Fleet::parse(&format!(
        "[defaults]\nuser = \"LAB\\\\admin\"\npassword_env = \"{PW_VAR}\"\n\n\
         [[host]]\naddress = \"{}-{}\"\n",
        addrs[0],
        addrs[HOSTS - 1]
    ))
    .unwrap();
    let sim = SimHandle::start(fleet, ListenOptions::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("winv-rate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // Uncapped: the simulator sees the burst (the measure can fail).
    let (free, _) = scan(&sim, "0", &dir.join("free.db"));
    assert!(free.len() >= 2 * HOSTS, "{} accepts", free.len());
    let burst = most_in_window(&free, Duration::from_secs(1));
    assert!(burst > 20, "uncapped, the busiest second had only {burst} connections");

    // --rate 8: at most 8 new connections in any second (one more for scheduling jitter
    // at the edges of a window), every host still inventoried.
    let (capped, text) = scan(&sim, "8", &dir.join("capped.db"));
    assert!(capped.len() >= 2 * HOSTS, "{} accepts", capped.len());
    let busiest = most_in_window(&capped, Duration::from_secs(1));
    assert!(busiest <= 9, "--rate 8 let {busiest} connections through in one second");
    let span = capped.last().unwrap().saturating_sub(capped[0]).as_secs_f64();
    let mean = (capped.len() - 1) as f64 / span;
    assert!(mean <= 8.5, "mean {mean:.2} connections per second over {span:.1} s");
    // The summary says the rate that was held.
    assert!(text.contains("per second held (--rate 8)"), "{text}");
}
