//! tshark as a second opinion: what Wireshark's DCE/RPC dissector sees in a capture.
//!
//! [`dcerpc_pdus`] runs
//! `tshark -r FILE [-o ntlmssp.nt_password:PW] -Y dcerpc -T json --no-duplicate-keys`
//! and turns every connection-oriented DCE/RPC PDU ([MS-RPCE] 2.2.2 / C706 12.6) into a
//! [`TsharkPdu`]. JSON is used instead of `-T fields` because a frame carrying several
//! PDUs then has one `dcerpc` layer object per PDU (a JSON array under
//! `--no-duplicate-keys`), so fields cannot get mixed between PDUs.
//!
//! Fields relied on (tshark 4.0 names, checked with `tshark -G fields`):
//! - `frame.number` (layer `frame`), `tcp.stream` (layer `tcp`);
//! - per PDU, directly in the `dcerpc` object: `dcerpc.pkt_type`, `dcerpc.cn_flags`,
//!   `dcerpc.cn_frag_len`, `dcerpc.cn_call_id`, `dcerpc.cn_ctx_id` (request, response,
//!   fault), `dcerpc.opnum` (request; tshark copies it into responses/faults when it saw
//!   the request), `dcerpc.cn_status` (fault);
//! - anywhere inside the PDU: `dcerpc.auth_type` and `dcerpc.auth_level` (under
//!   `dcerpc.auth_info`), `dcerpc.cn_ctx_item` objects of bind / alter_context holding
//!   `dcerpc.cn_ctx_id` and `dcerpc.cn_bind_to_uuid`;
//! - anywhere in the frame: `_ws.malformed` (the malformed-packet marker) and
//!   `_ws.expert.severity` (an expert error is severity `0x00800000`, PI_ERROR).
//!
//! tshark reports a PDU in the frame where its TCP reassembly completes, so a PDU that
//! spans several segments carries the number of its last frame.
//! tshark does not expose the interface UUID of a request as a field; [`TsharkPdu::interface`]
//! is derived the way tshark derives it: from the presentation context of the latest
//! bind / alter_context on the same TCP stream that listed the PDU's `ctx_id`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};
use serde_json::Value;

/// Expert-info severity PI_ERROR (`epan/proto.h`).
const PI_ERROR: u64 = 0x0080_0000;

/// One connection-oriented DCE/RPC PDU as tshark dissected it ([MS-RPCE] 2.2.2.1 common header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsharkPdu {
    /// 1-based frame number (`frame.number`) in which the PDU completed.
    pub frame: u32,
    /// `tcp.stream`, if the PDU came over TCP.
    pub tcp_stream: Option<u32>,
    /// `dcerpc.pkt_type` (0 request, 2 response, 3 fault, 11 bind, 12 bind_ack,
    /// 13 bind_nak, 14 alter_context, 15 alter_context_resp, 16 auth3, ...).
    pub pkt_type: u8,
    /// `dcerpc.cn_flags` (PFC_* bits).
    pub flags: u8,
    /// `dcerpc.cn_call_id`.
    pub call_id: u32,
    /// `dcerpc.cn_ctx_id` of a request / response / fault; the first context item's id
    /// for bind / alter_context.
    pub ctx_id: Option<u16>,
    /// `(dcerpc.cn_ctx_id, dcerpc.cn_bind_to_uuid)` of each context item of a bind or
    /// alter_context, in order.
    pub contexts: Vec<(u16, String)>,
    /// Interface UUID (lowercase, hyphenated): the first context item's for bind /
    /// alter_context; for other PDUs the one bound to `ctx_id` earlier on the stream.
    pub interface: Option<String>,
    /// `dcerpc.opnum`.
    pub opnum: Option<u16>,
    /// `dcerpc.auth_type` (e.g. 9 SPNEGO, 10 NTLM).
    pub auth_type: Option<u8>,
    /// `dcerpc.auth_level` (2 connect ... 6 privacy).
    pub auth_level: Option<u8>,
    /// `dcerpc.cn_status` of a fault.
    pub status: Option<u32>,
    /// `dcerpc.cn_frag_len`.
    pub frag_len: u16,
    /// The frame holds `_ws.malformed`.
    pub frame_malformed: bool,
    /// The frame holds an expert item of severity error.
    pub frame_expert_error: bool,
}

/// Whether `tshark` can be run.
pub fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// tshark preferences that decrypt Kerberos (tickets, then the DCE/RPC wrap
/// and MIC tokens) with the keys of `keytab` (`samba-tool domain
/// exportkeytab`).
pub fn keytab_prefs(keytab: &Path) -> Vec<String> {
    vec![
        "kerberos.decrypt:TRUE".to_string(),
        format!("kerberos.file:{}", keytab.display()),
    ]
}

fn password_prefs(nt_password: Option<&str>) -> Vec<String> {
    // Test-only fixture passwords; never logged.
    nt_password
        .map(|pw| vec![format!("ntlmssp.nt_password:{pw}")])
        .unwrap_or_default()
}

fn run_tshark(capture: &Path, nt_password: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
    run_tshark_prefs(capture, &password_prefs(nt_password), args)
}

/// Runs tshark on `capture` with `-o PREF` for each of `prefs`, then `args`;
/// returns its standard output.
pub fn run_tshark_prefs(capture: &Path, prefs: &[String], args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(capture);
    for p in prefs {
        cmd.arg("-o").arg(p);
    }
    cmd.args(args);
    let out = cmd
        .output()
        .with_context(|| format!("running tshark on {}", capture.display()))?;
    if !out.status.success() {
        bail!(
            "tshark failed on {} ({}): {}",
            capture.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("tshark output is not utf-8")
}

/// Every value stored under `key` anywhere inside `v` (arrays flattened).
fn find_all<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == key {
                    push_flat(child, out);
                } else {
                    find_all(child, key, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| find_all(c, key, out)),
        _ => {}
    }
}

fn push_flat<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|c| push_flat(c, out)),
        other => out.push(other),
    }
}

fn contains_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, c)| k == key || contains_key(c, key)),
        Value::Array(a) => a.iter().any(|c| contains_key(c, key)),
        _ => false,
    }
}

/// A tshark number: decimal or `0x` hex, as a JSON string.
fn num(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A field directly in `obj` (first value if repeated).
fn direct(obj: &Value, key: &str) -> Option<u64> {
    match obj.get(key)? {
        Value::Array(a) => a.first().and_then(num),
        v => num(v),
    }
}

fn first_deep(obj: &Value, key: &str) -> Option<u64> {
    let mut all = Vec::new();
    find_all(obj, key, &mut all);
    all.into_iter().find_map(num)
}

/// One record per DCE/RPC PDU in `capture`, in frame order, as tshark dissects it
/// (with `nt_password` given to tshark's NTLMSSP dissector for decryption).
pub fn dcerpc_pdus(capture: &Path, nt_password: Option<&str>) -> anyhow::Result<Vec<TsharkPdu>> {
    dcerpc_pdus_prefs(capture, &password_prefs(nt_password))
}

/// [`dcerpc_pdus`] with any tshark preferences (e.g. [`keytab_prefs`]).
pub fn dcerpc_pdus_prefs(capture: &Path, prefs: &[String]) -> anyhow::Result<Vec<TsharkPdu>> {
    let text = run_tshark_prefs(
        capture,
        prefs,
        &["-Y", "dcerpc", "-T", "json", "--no-duplicate-keys"],
    )?;
    let packets: Vec<Value> = serde_json::from_str(&text).context("parsing tshark json")?;
    let mut out = Vec::new();
    // (tcp stream, ctx_id) -> interface UUID, from binds and alter_contexts.
    let mut bound: HashMap<(Option<u32>, u16), String> = HashMap::new();
    for p in &packets {
        let layers = p
            .pointer("/_source/layers")
            .context("tshark json without _source.layers")?;
        let frame = layers
            .get("frame")
            .and_then(|f| direct(f, "frame.number"))
            .and_then(|n| u32::try_from(n).ok())
            .context("tshark json without frame.number")?;
        let tcp_stream = layers
            .get("tcp")
            .and_then(|t| direct(t, "tcp.stream"))
            .and_then(|n| u32::try_from(n).ok());
        let frame_malformed = contains_key(layers, "_ws.malformed");
        let mut sev = Vec::new();
        find_all(layers, "_ws.expert.severity", &mut sev);
        let frame_expert_error = sev.into_iter().filter_map(num).any(|s| s >= PI_ERROR);
        let mut pdus = Vec::new();
        if let Some(d) = layers.get("dcerpc") {
            push_flat(d, &mut pdus);
        }
        for pdu in pdus.into_iter().filter(|v| v.is_object()) {
            let Some(pkt_type) = direct(pdu, "dcerpc.pkt_type") else {
                continue;
            };
            let mut contexts = Vec::new();
            let mut items = Vec::new();
            find_all(pdu, "dcerpc.cn_ctx_item", &mut items);
            for item in items {
                let id = direct(item, "dcerpc.cn_ctx_id").and_then(|n| u16::try_from(n).ok());
                let mut uuids = Vec::new();
                find_all(item, "dcerpc.cn_bind_to_uuid", &mut uuids);
                let uuid = uuids
                    .first()
                    .and_then(|u| u.as_str())
                    .map(str::to_lowercase);
                if let (Some(id), Some(uuid)) = (id, uuid) {
                    contexts.push((id, uuid));
                }
            }
            let ctx_id = direct(pdu, "dcerpc.cn_ctx_id")
                .and_then(|n| u16::try_from(n).ok())
                .or_else(|| contexts.first().map(|c| c.0));
            for (id, uuid) in &contexts {
                bound.insert((tcp_stream, *id), uuid.clone());
            }
            let interface = match contexts.first() {
                Some((_, uuid)) => Some(uuid.clone()),
                None => ctx_id.and_then(|c| bound.get(&(tcp_stream, c)).cloned()),
            };
            out.push(TsharkPdu {
                frame,
                tcp_stream,
                pkt_type: u8::try_from(pkt_type).context("pkt_type out of range")?,
                flags: direct(pdu, "dcerpc.cn_flags")
                    .and_then(|n| u8::try_from(n).ok())
                    .unwrap_or(0),
                call_id: direct(pdu, "dcerpc.cn_call_id")
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
                ctx_id,
                contexts,
                interface,
                opnum: direct(pdu, "dcerpc.opnum").and_then(|n| u16::try_from(n).ok()),
                auth_type: first_deep(pdu, "dcerpc.auth_type").and_then(|n| u8::try_from(n).ok()),
                auth_level: first_deep(pdu, "dcerpc.auth_level").and_then(|n| u8::try_from(n).ok()),
                status: direct(pdu, "dcerpc.cn_status").and_then(|n| u32::try_from(n).ok()),
                frag_len: direct(pdu, "dcerpc.cn_frag_len")
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or(0),
                frame_malformed,
                frame_expert_error,
            });
        }
    }
    Ok(out)
}

/// Frame numbers tshark marks `_ws.malformed` (any protocol, not only DCE/RPC).
pub fn malformed_frames(capture: &Path, nt_password: Option<&str>) -> anyhow::Result<Vec<u32>> {
    malformed_frames_prefs(capture, &password_prefs(nt_password))
}

/// [`malformed_frames`] with any tshark preferences.
pub fn malformed_frames_prefs(capture: &Path, prefs: &[String]) -> anyhow::Result<Vec<u32>> {
    let text = run_tshark_prefs(
        capture,
        prefs,
        &["-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number"],
    )?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse::<u32>().context("frame number"))
        .collect()
}

/// The values tshark gives for a list of fields in one frame ([`frame_fields`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameFields {
    /// `frame.number`.
    pub frame: u32,
    /// Field name to every occurrence of it in the frame, in dissection order.
    pub values: HashMap<String, Vec<String>>,
}

impl FrameFields {
    /// Every occurrence of `field` (empty when tshark gave none).
    pub fn all(&self, field: &str) -> &[String] {
        self.values.get(field).map_or(&[], Vec::as_slice)
    }

    /// The first occurrence of `field`.
    pub fn first(&self, field: &str) -> Option<&str> {
        self.all(field).first().map(String::as_str)
    }
}

/// Separates the occurrences of one field (ASCII record separator: never in a value).
const AGGREGATOR: char = '\u{1e}';

/// Runs `tshark -r FILE -Y FILTER -T fields -e frame.number -e FIELD...` with every
/// occurrence of each field, and returns one [`FrameFields`] per displayed frame.
/// Field names are tshark's (`tshark -G fields`), e.g. `dcom.oxid`, `dcom.ipid`,
/// `dcerpc.obj_id`, `_ws.col.Info`. Values are as tshark prints them (tshark 4.0 does
/// not escape backslashes in `-T fields` output: a string binding
/// `\\HOST[\PIPE\atsvc]` on the wire is printed so).
pub fn frame_fields(
    capture: &Path,
    nt_password: Option<&str>,
    filter: &str,
    fields: &[&str],
) -> anyhow::Result<Vec<FrameFields>> {
    let aggregator = format!("aggregator={AGGREGATOR}");
    let mut args = vec![
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        &aggregator,
        "-e",
        "frame.number",
    ];
    for f in fields {
        args.push("-e");
        args.push(f);
    }
    let out = run_tshark(capture, nt_password, &args)?;
    let mut frames = Vec::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let mut cols = line.split('\t');
        let frame: u32 = cols
            .next()
            .unwrap_or_default()
            .parse()
            .with_context(|| format!("bad frame number in tshark line {line:?}"))?;
        let mut values = HashMap::new();
        for (f, col) in fields.iter().zip(cols) {
            let v: Vec<String> = if col.is_empty() {
                Vec::new()
            } else {
                col.split(AGGREGATOR).map(str::to_owned).collect()
            };
            values.insert((*f).to_string(), v);
        }
        frames.push(FrameFields { frame, values });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{require_fixture, skip_or_fail};

    const SVCCTL: &str = "367abb81-9844-35f1-ad32-98f038001003";
    const EPM: &str = "e1af8308-5d1f-11c9-91a4-08002b14a0fa";

    fn pdus(name: &str, pw: Option<&str>) -> Option<Vec<TsharkPdu>> {
        if !tshark_available() {
            skip_or_fail("tshark not installed");
            return None;
        }
        let path = require_fixture(&format!("pcap/{name}"))?;
        Some(dcerpc_pdus(&path, pw).expect("tshark runs"))
    }

    fn count(p: &[TsharkPdu], t: u8) -> usize {
        p.iter().filter(|x| x.pkt_type == t).count()
    }

    #[test]
    fn scapy_capture_pdus() {
        let Some(p) = pdus("scapy-dcerpc-privacy-ntlm.pcapng", Some("Password123!")) else {
            return;
        };
        assert_eq!(p.len(), 20);
        // request, response, fault, bind, bind_ack, auth3
        let by_type: Vec<usize> = [0, 2, 3, 11, 12, 16]
            .iter()
            .map(|&t| count(&p, t))
            .collect();
        assert_eq!(by_type, vec![5, 9, 1, 2, 2, 1]);
        // Two TCP streams: EPM on 135 (stream 0), SVCCTL (stream 1).
        assert_eq!(p.iter().filter(|x| x.tcp_stream == Some(0)).count(), 4);
        let bind = p.iter().find(|x| x.frame == 11).expect("frame 11");
        assert_eq!(bind.pkt_type, 11);
        assert_eq!(bind.contexts, vec![(0, SVCCTL.into()), (1, SVCCTL.into())]);
        assert_eq!((bind.auth_type, bind.auth_level), (Some(10), Some(6)));
        let epm = p.iter().find(|x| x.frame == 4).expect("frame 4");
        assert_eq!(epm.contexts.len(), 3);
        assert_eq!(epm.interface.as_deref(), Some(EPM));
        // Frame 17: OpenSCManagerW (opnum 15), sealed, interface from the bind.
        let open = p.iter().find(|x| x.frame == 17).expect("frame 17");
        assert_eq!((open.pkt_type, open.call_id, open.opnum), (0, 3, Some(15)));
        assert_eq!(open.interface.as_deref(), Some(SVCCTL));
        assert_eq!(open.auth_level, Some(6));
        // The EnumServicesStatusW response, call_id 5: six fragments.
        let frags: Vec<(u32, u16)> = p
            .iter()
            .filter(|x| x.pkt_type == 2 && x.call_id == 5)
            .map(|x| (x.frame, x.frag_len))
            .collect();
        assert_eq!(
            frags,
            vec![
                (25, 5840),
                (26, 5840),
                (29, 5840),
                (31, 5840),
                (33, 5840),
                (34, 4688)
            ]
        );
        assert_eq!(
            p.iter().find(|x| x.frame == 25).map(|x| x.flags & 0x01),
            Some(0x01)
        ); // PFC_FIRST_FRAG
        assert_eq!(
            p.iter().find(|x| x.frame == 34).map(|x| x.flags & 0x02),
            Some(0x02)
        ); // PFC_LAST_FRAG
           // The only fault: nca_op_rng_error for opnum 64 (call_id 2, frame 16).
        let faults: Vec<(u32, u32, Option<u32>)> = p
            .iter()
            .filter(|x| x.pkt_type == 3)
            .map(|x| (x.frame, x.call_id, x.status))
            .collect();
        assert_eq!(faults, vec![(16, 2, Some(0x1c01_0002))]);
        assert!(p.iter().all(|x| x.status.is_none() || x.pkt_type == 3));
        assert!(p
            .iter()
            .all(|x| !x.frame_malformed && !x.frame_expert_error));
    }

    #[test]
    fn windows_wmi_capture_pdus() {
        let Some(p) = pdus("windows-wmi-processcallcreate.pcapng", None) else {
            return;
        };
        assert_eq!(p.len(), 46);
        let by_type: Vec<usize> = [0, 2, 11, 12, 14, 15, 16]
            .iter()
            .map(|&t| count(&p, t))
            .collect();
        assert_eq!(by_type, vec![9, 22, 2, 2, 5, 5, 1]);
        // Frame 19 completes the 1796-byte bind that starts in frame 18.
        let bind = p.iter().find(|x| x.frame == 19).expect("frame 19");
        assert_eq!(
            (bind.pkt_type, bind.frag_len, bind.tcp_stream),
            (11, 1796, Some(2))
        );
        // RemoteCreateInstance (opnum 4) and its reply, frames 24/25.
        let rci = p.iter().find(|x| x.frame == 24).expect("frame 24");
        assert_eq!((rci.pkt_type, rci.opnum, rci.call_id), (0, Some(4), 4));
        let reply = p.iter().find(|x| x.frame == 25).expect("frame 25");
        assert_eq!((reply.pkt_type, reply.frag_len), (2, 1136));
        // Sealed part (auth NTLM at privacy) on stream 3 from the alter_context in frame 49.
        let sealed = p.iter().filter(|x| x.auth_level == Some(6)).count();
        assert_eq!(sealed, 20);
        assert!(p.iter().all(|x| x.pkt_type != 3));
        assert!(p.iter().all(|x| !x.frame_malformed));
    }

    #[test]
    fn zeek_capture_pdus() {
        let Some(p) = pdus("zeek-dce-rpc-ntlm.pcapng", None) else {
            return;
        };
        let types: Vec<(u32, u8)> = p.iter().map(|x| (x.frame, x.pkt_type)).collect();
        assert_eq!(types, vec![(1, 11), (3, 12), (4, 14), (5, 15), (6, 14)]);
        assert!(p
            .iter()
            .all(|x| x.auth_type == Some(9) && x.auth_level == Some(5)));
    }

    #[test]
    fn fixtures_have_no_malformed_frames() {
        if !tshark_available() {
            skip_or_fail("tshark not installed");
            return;
        }
        for name in [
            "scapy-dcerpc-privacy-ntlm.pcapng",
            "windows-wmi-processcallcreate.pcapng",
            "zeek-dce-rpc-ntlm.pcapng",
        ] {
            let Some(path) = require_fixture(&format!("pcap/{name}")) else {
                return;
            };
            assert_eq!(
                malformed_frames(&path, None).expect("tshark"),
                Vec::<u32>::new(),
                "{name}"
            );
        }
    }

    #[test]
    fn json_helpers_handle_repeated_layers() {
        let v: Value = serde_json::from_str(
            r#"[{"_source":{"layers":{"frame":{"frame.number":"7"},"tcp":{"tcp.stream":"1"},
            "dcerpc":[{"dcerpc.pkt_type":"0","dcerpc.cn_call_id":"1","dcerpc.cn_ctx_id":"0",
            "dcerpc.opnum":"3","dcerpc.cn_frag_len":"24"},
            {"dcerpc.pkt_type":"3","dcerpc.cn_call_id":"2","dcerpc.cn_status":"0x1c010003",
            "dcerpc.cn_frag_len":"32","x":{"_ws.expert":{"_ws.expert.severity":"8388608"}}}],
            "_ws.malformed":{}}}}]"#,
        )
        .expect("json");
        let layers = v.pointer("/0/_source/layers").expect("layers");
        let mut d = Vec::new();
        push_flat(layers.get("dcerpc").expect("dcerpc"), &mut d);
        assert_eq!(d.len(), 2);
        assert_eq!(direct(d[1], "dcerpc.cn_status"), Some(0x1c01_0003));
        assert_eq!(first_deep(layers, "_ws.expert.severity"), Some(PI_ERROR));
        assert!(contains_key(layers, "_ws.malformed"));
    }
}
