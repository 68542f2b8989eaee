//! Smoke test of the Samba AD DC fixture: the DC comes up in this thread's
//! private network namespace, its endpoint mapper answers a hand-written
//! DCE/RPC bind with a bind_ack, client tools can talk to it, and the packet
//! capture helper records the exchange in a file tshark can read.
//!
//! All traffic stays inside the namespace the test creates (only `lo`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use winv_testsuite::samba::{find_program, PacketCapture, SambaDc};

/// EPM interface e1af8308-5d1f-11c9-91a4-08002b14a0fa, little-endian fields ([C706] A.2.5).
const EPM_UUID: [u8; 16] = [
    0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa,
];
/// NDR transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860.
const NDR_UUID: [u8; 16] = [
    0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
];

/// An unauthenticated bind to EPM v3.0 offering NDR v2 ([C706] 12.6.4.3).
fn epm_bind_pdu(call_id: u32) -> Vec<u8> {
    let mut p = vec![
        5, 0,    // rpc_vers, rpc_vers_minor
        11,   // ptype = bind
        0x03, // pfc_flags = first_frag | last_frag
        0x10, 0, 0, 0, // drep: little-endian, ASCII, IEEE
        72, 0, // frag_length
        0, 0, // auth_length
    ];
    p.extend_from_slice(&call_id.to_le_bytes());
    p.extend_from_slice(&5840u16.to_le_bytes()); // max_xmit_frag
    p.extend_from_slice(&5840u16.to_le_bytes()); // max_recv_frag
    p.extend_from_slice(&0u32.to_le_bytes()); // assoc_group_id
    p.extend_from_slice(&[1, 0, 0, 0]); // n_context_elem, reserved, reserved2
    p.extend_from_slice(&0u16.to_le_bytes()); // p_cont_id
    p.extend_from_slice(&[1, 0]); // n_transfer_syn, reserved
    p.extend_from_slice(&EPM_UUID);
    p.extend_from_slice(&3u16.to_le_bytes()); // if_version major
    p.extend_from_slice(&0u16.to_le_bytes()); // if_version minor
    p.extend_from_slice(&NDR_UUID);
    p.extend_from_slice(&2u32.to_le_bytes()); // NDR version 2
    p
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let s = b.get(at..at + 2).context("short pdu")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

/// Checks a bind_ack ([C706] 12.6.4.4): returns (result, transfer syntax uuid).
fn parse_bind_ack(b: &[u8], call_id: u32) -> Result<(u16, [u8; 16])> {
    ensure!(b.len() >= 16, "short header");
    ensure!(b[0] == 5 && b[1] == 0, "not dce/rpc v5.0");
    ensure!(b[2] == 12, "packet type {} is not bind_ack (12)", b[2]);
    ensure!(b[4] == 0x10, "expected little-endian drep");
    ensure!(
        usize::from(u16_at(b, 8)?) == b.len(),
        "frag_length mismatch"
    );
    ensure!(
        b.get(12..16) == Some(&call_id.to_le_bytes()[..]),
        "call_id mismatch"
    );
    let sec_addr_len = usize::from(u16_at(b, 24)?);
    let mut at = 26 + sec_addr_len;
    at = (at + 3) & !3; // align 4
    let n_results = *b.get(at).context("no results")?;
    ensure!(n_results == 1, "n_results {n_results}");
    at += 4;
    let result = u16_at(b, at)?;
    let syntax: [u8; 16] = b.get(at + 4..at + 20).context("short result")?.try_into()?;
    Ok((result, syntax))
}

async fn bind_epm(addr: IpAddr) -> Result<Vec<u8>> {
    let call_id = 7;
    let mut s = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(SocketAddr::new(addr, 135)),
    )
    .await
    .context("connect timeout")??;
    s.write_all(&epm_bind_pdu(call_id)).await?;
    let mut hdr = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut hdr))
        .await
        .context("read timeout")??;
    let frag_len = usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
    ensure!(
        (16..=5840).contains(&frag_len),
        "bad frag_length {frag_len}"
    );
    let mut pdu = hdr.to_vec();
    pdu.resize(frag_len, 0);
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut pdu[16..]))
        .await
        .context("read timeout")??;
    let (result, syntax) = parse_bind_ack(&pdu, call_id)?;
    ensure!(result == 0, "bind result {result} is not acceptance");
    ensure!(syntax == NDR_UUID, "accepted transfer syntax is not NDR");
    Ok(pdu)
}

#[test]
fn bind_pdu_is_72_bytes_and_well_formed() {
    let p = epm_bind_pdu(1);
    assert_eq!(p.len(), 72);
    assert_eq!(usize::from(u16::from_le_bytes([p[8], p[9]])), p.len());
    assert_eq!(&p[32..48], &EPM_UUID);
    assert_eq!(&p[52..68], &NDR_UUID);
}

#[test]
fn bind_ack_parser_rejects_other_packets() {
    // A bind is not a bind_ack.
    assert!(parse_bind_ack(&epm_bind_pdu(1), 1).is_err());
    assert!(parse_bind_ack(&[5, 0, 12], 1).is_err());
}

/// Runs a client tool until it succeeds or `deadline` passes (SMB sessions on
/// a fresh DC can fail with NT_STATUS_INTERNAL_ERROR for a second or two while
/// winbindd initialises its idmap).
fn run_until_ok(cmd: &mut Command, deadline: Duration) -> Result<String> {
    let end = Instant::now() + deadline;
    loop {
        let out = cmd.output().context("spawn client tool")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            return Ok(text);
        }
        if Instant::now() >= end {
            bail!("{cmd:?} kept failing: {text}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn samba_dc_answers_epm_bind_and_client_tools() -> Result<()> {
    let Some(dc) = SambaDc::start()? else {
        return Ok(());
    };
    eprintln!(
        "provision {:?}, start {:?}",
        dc.provision_time(),
        dc.startup_time()
    );
    // We are inside the DC's private namespace, which holds only lo.
    assert_eq!(dc.addr(), IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)));
    assert!(!format!("{dc:?}").contains(dc.admin_password()));

    let capture = if PacketCapture::available() {
        Some(PacketCapture::start(
            "lo",
            "tcp port 135",
            dc.data_dir().join("epm.pcapng"),
        )?)
    } else {
        winv_testsuite::fixtures::skip_or_fail("dumpcap/tshark not installed: capture not checked");
        None
    };

    // A current-thread runtime on this thread: its sockets live in our namespace.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ack = rt.block_on(bind_epm(dc.addr()))?;
    assert_eq!(ack[2], 12);
    // The loopback address reaches the same endpoint mapper.
    rt.block_on(bind_epm(IpAddr::V4(Ipv4Addr::LOCALHOST)))?;

    if let Some(cap) = capture {
        let pcap = cap.stop()?;
        if let Some(tshark) = find_program("tshark") {
            let out = Command::new(tshark)
                .arg("-r")
                .arg(&pcap)
                .args(["-Y", "dcerpc.pkt_type == 11 || dcerpc.pkt_type == 12"])
                .args([
                    "-T",
                    "fields",
                    "-e",
                    "dcerpc.pkt_type",
                    "-e",
                    "dcerpc.cn_bind_to_uuid",
                ])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "tshark failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let binds = text
                .lines()
                .filter(|l| {
                    l.starts_with("11\t") && l.contains("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
                })
                .count();
            let acks = text.lines().filter(|l| l.starts_with("12")).count();
            assert_eq!((binds, acks), (2, 2), "tshark saw:\n{text}");
        } else {
            winv_testsuite::fixtures::skip_or_fail("tshark not installed: capture not decoded");
        }
    }

    let auth = dc.admin_auth_file()?;
    if let Some(rpcclient) = find_program("rpcclient") {
        let out = run_until_ok(
            Command::new(rpcclient)
                .arg(format!("--configfile={}", dc.smb_conf().display()))
                .arg("-A")
                .arg(&auth)
                .arg(dc.addr().to_string())
                .args(["-c", "srvinfo; enumdomusers"]),
            Duration::from_secs(30),
        )?;
        assert!(out.contains(dc.hostname()), "srvinfo: {out}");
        assert!(out.contains("user:[Administrator]"), "enumdomusers: {out}");
    } else {
        winv_testsuite::fixtures::skip_or_fail("rpcclient (smbclient) not installed");
    }

    let samba_tool = find_program("samba-tool").context("samba-tool vanished")?;
    let out = run_until_ok(
        Command::new(samba_tool)
            .args(["user", "list"])
            .arg(format!("--configfile={}", dc.smb_conf().display()))
            .arg("-H")
            .arg(format!("ldap://{}", dc.addr()))
            .arg(format!("--username={}\\{}", dc.domain(), dc.admin_user()))
            // samba-tool has no -A; the password comes from the environment.
            .env("PASSWD", dc.admin_password()),
        Duration::from_secs(30),
    )?;
    assert!(
        out.lines().any(|l| l.trim() == "krbtgt"),
        "user list: {out}"
    );
    Ok(())
}
