//! The lockout guard end to end: 50 simulated computers of one domain, a credentials
//! file whose first account is wrong and whose second is right. tshark, not our own
//! counter, counts the NTLM AUTHENTICATE messages that carry the wrong account's name
//! in a capture of the scan: at most the guard's limit reach the hosts, every computer
//! ends inventoried with the second account, and the summary and `status` say that the
//! first was retired.
//!
//! The same across two scanners of one shared run: the run's ledger in the database
//! makes the limit hold for both together.
//!
//! Addresses: 127.0.88.1-50, 127.0.89.1-24.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::Command;

use winv_engine::Status;
use winv_store::Store;
use winv_testsuite::fixtures::skip_or_fail;
use winv_testsuite::samba::PacketCapture;
use winv_testsuite::tshark::tshark_available;
use winv_testsuite::cli::{start_sim, temp_dir, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_winventory");
const HOSTS: usize = 50;
const GUARD: usize = 3;

/// The user names of every NTLM AUTHENTICATE message in the capture, as tshark reads
/// them (DCE/RPC decoded on the endpoint mapper's port and, by tshark's heuristics, on
/// the dynamic ones).
fn authenticate_users(pcap: &Path, epm_port: u16) -> Vec<String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-d", &format!("tcp.port=={epm_port},dcerpc")])
        .args(["-Y", "ntlmssp.messagetype == 0x00000003"])
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"])
        .args(["-e", "ntlmssp.auth.username"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|l| l.split('|').map(str::to_string).collect::<Vec<_>>())
        .filter(|u| !u.is_empty())
        .collect()
}

/// The guard's test bed: the simulator serving `range` (hosts accepting `LAB\inventory`
/// with `right`), a credentials file whose first account is the wrong one, and a capture
/// of `net` on the loopback. `None` (after saying why) when nothing can be captured.
fn guard_bed(
    dir: &Path,
    range: &str,
    net: &str,
    right: &str,
) -> Option<(Killed, u16, std::path::PathBuf, PacketCapture)> {
    if !tshark_available() || !PacketCapture::available() {
        skip_or_fail("tshark is not installed (scripts/test.sh installs it)");
        return None;
    }
    let fleet = dir.join("fleet.toml");
    std::fs::write(
        &fleet,
        format!(
            "[defaults]\nuser = \"LAB\\\\inventory\"\npassword_env = \"WINV_GUARD_SIM_PW\"\n\n\
             [[host]]\naddress = \"{range}\"\n"
        ),
    )
    .unwrap();
    let (sim, port) = start_sim(BIN, &fleet, &[("WINV_GUARD_SIM_PW", right)], &[]);
    let creds = dir.join("creds");
    std::fs::write(
        &creds,
        "LAB\\svc-wrong env:WINV_GUARD_WRONG\nLAB\\inventory env:WINV_GUARD_RIGHT\n",
    )
    .unwrap();
    match PacketCapture::start("lo", net, dir.join("guard.pcapng")) {
        Ok(cap) => Some((sim, port, creds, cap)),
        Err(e) => {
            skip_or_fail(&format!("cannot capture on lo: {e:#}"));
            None
        }
    }
}

#[test]
fn a_wrong_first_account_reaches_at_most_the_guards_number_of_hosts() {
    const RIGHT: &str = "Guard-Right-Pw-8812!";
    const WRONG: &str = "Guard-Wrong-Pw-1207!";
    let dir = temp_dir("guard-fifty");
    let range = format!("127.0.88.1-127.0.88.{HOSTS}");
    let Some((_sim, port, creds, cap)) = guard_bed(&dir, &range, "net 127.0.88.0/24", RIGHT)
    else {
        return;
    };
    let db = dir.join("inv.db");
    // 64 at once: without the guard every host would get the wrong account first.
    let out = Command::new(BIN)
        .args([
            "scan",
            &range,
            "--credentials",
        ])
        .arg(&creds)
        .arg("--db")
        .arg(&db)
        .args([
            "--port",
            &port.to_string(),
            "--rate",
            "0",
            "--concurrency",
            "64",
        ])
        .args(["--connect-timeout", "2", "--call-timeout", "5"])
        .env("WINV_GUARD_WRONG", WRONG)
        .env("WINV_GUARD_RIGHT", RIGHT)
        .output()
        .unwrap();
    let pcap = cap.stop().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");

    let users = authenticate_users(&pcap, port);
    let wrong = users.iter().filter(|u| u.as_str() == "svc-wrong").count();
    let right = users.iter().filter(|u| u.as_str() == "inventory").count();
    // The dissection works: every host saw the right account at least once.
    assert!(
        right >= HOSTS,
        "tshark saw {right} AUTHENTICATEs of the right account: {users:?}"
    );
    assert!(wrong >= 1, "the wrong account was never tried: {users:?}");
    assert!(
        wrong <= GUARD,
        "the wrong account reached the hosts {wrong} times (guard {GUARD})"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (computers, accounts) = rt.block_on(async {
        let store = Store::open(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let c = store.computers(run.id).await.unwrap();
        let a = store.accounts(run.id).await.unwrap();
        store.close().await;
        (c, a)
    });
    assert_eq!(computers.len(), HOSTS);
    for c in &computers {
        assert_eq!(c.status, Status::Inventoried, "{c:?}");
        assert_eq!(c.credential.as_deref(), Some("LAB\\inventory"), "{c:?}");
    }
    let first = accounts
        .iter()
        .find(|a| a.account == "LAB\\svc-wrong")
        .unwrap();
    assert_eq!(first.retired_after, Some(3), "{accounts:?}");
    assert_eq!(first.refused, u64::try_from(wrong).unwrap(), "{accounts:?}");
    assert_eq!(first.accepted, 0);
    let second = accounts
        .iter()
        .find(|a| a.account == "LAB\\inventory")
        .unwrap();
    assert_eq!(
        (second.accepted, second.retired_after),
        (50, None),
        "{accounts:?}"
    );

    // Loudly: the summary says so, and so does `status`.
    let retired_line = text
        .lines()
        .find(|l| l.starts_with("LAB\\svc-wrong"))
        .unwrap_or_else(|| panic!("no account line in the summary: {text}"));
    assert!(retired_line.contains("RETIRED after 3"), "{text}");
    assert!(text.contains("retired by the lockout guard"), "{text}");
    let status = Command::new(BIN)
        .args(["status", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(status.status.success());
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let acc = v["accounts"].as_array().unwrap();
    assert_eq!(acc[0]["account"], "LAB\\svc-wrong");
    assert_eq!(acc[0]["retired_after"], 3);
    assert_eq!(acc[1]["accepted"], 50);
}

/// Two scanners of one shared run start together, both with the wrong account first.
/// `--rate 4` (two connections a second each) spreads the wrong account's connects over
/// seconds, so that each scanner alone would spend its own three before it heard of the
/// other's: six refusals where the domain allows three. The ledger keeps it to three.
#[test]
fn two_scanners_of_a_shared_run_spend_the_guards_limit_together() {
    const N: usize = 24;
    const RIGHT: &str = "Guard-Right-Pw-4471!";
    const WRONG: &str = "Guard-Wrong-Pw-9930!";
    let dir = temp_dir("guard-shared");
    let range = format!("127.0.89.1-127.0.89.{N}");
    let Some((_sim, port, creds, cap)) = guard_bed(&dir, &range, "net 127.0.89.0/24", RIGHT)
    else {
        return;
    };
    let db = dir.join("shared.db");
    let scanner = |name: &str, first: &[&str]| {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("scan")
            .args(first)
            .arg("--credentials")
            .arg(&creds)
            .arg("--db")
            .arg(&db)
            .args(["--scanner-name", name, "--port", &port.to_string()])
            // Four at a time each: both scanners claim computers from the start.
            .args(["--rate", "4", "--concurrency", "4", "--progress-interval", "2"])
            .args(["--connect-timeout", "2", "--call-timeout", "5"])
            .env("WINV_GUARD_WRONG", WRONG)
            .env("WINV_GUARD_RIGHT", RIGHT)
            .stdout(std::process::Stdio::from(f.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(f))
            .spawn()
            .unwrap();
        (Killed(child), log)
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let wait = |k: &mut Killed, log: &Path| {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(240);
        loop {
            if let Some(s) = k.0.try_wait().unwrap() {
                assert!(matches!(s.code(), Some(0 | 7)), "{s}: {}", read(log));
                return;
            }
            assert!(std::time::Instant::now() < end, "no exit: {}", read(log));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let (mut a, log_a) = scanner("alpha", &[&range, "--shared"]);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !read(&log_a).contains("shared run 1 created") {
        assert!(std::time::Instant::now() < end, "no run: {}", read(&log_a));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (mut b, log_b) = scanner("beta", &["--join", "latest"]);
    wait(&mut a, &log_a);
    wait(&mut b, &log_b);
    let pcap = cap.stop().unwrap();

    let users = authenticate_users(&pcap, port);
    let wrong = users.iter().filter(|u| u.as_str() == "svc-wrong").count();
    let right = users.iter().filter(|u| u.as_str() == "inventory").count();
    let logs = format!("alpha:\n{}\nbeta:\n{}", read(&log_a), read(&log_b));
    assert!(right >= N, "tshark saw {right} right AUTHENTICATEs: {users:?}\n{logs}");
    assert!(wrong >= 1, "the wrong account was never tried: {users:?}");
    assert!(
        wrong <= GUARD,
        "two scanners together sent the wrong account {wrong} times (guard {GUARD})\n{logs}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (computers, accounts, scanners) = rt.block_on(async {
        let store = Store::open(&db).await.unwrap();
        let run = store.latest_run().await.unwrap().unwrap();
        let c = store.computers(run.id).await.unwrap();
        let a = store.accounts(run.id).await.unwrap();
        let s = store.scanners(run.id).await.unwrap();
        store.close().await;
        (c, a, s)
    });
    assert_eq!(computers.len(), N);
    for c in &computers {
        assert_eq!(c.status, Status::Inventoried, "{c:?}");
    }
    // Both scanners worked: the limit was not met by one of them finishing alone.
    assert!(scanners.iter().all(|s| s.finished > 0), "{scanners:?}\n{logs}");
    let first = accounts.iter().find(|a| a.account == "LAB\\svc-wrong").unwrap();
    assert!(first.retired_after.is_some(), "{accounts:?}");
    assert_eq!(first.accepted, 0);
}
