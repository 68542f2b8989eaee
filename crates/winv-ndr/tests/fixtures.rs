//! Conformance against a real Windows DCOM activation request: the activation properties
//! BLOB ([MS-DCOM] 2.2.22) of `RemoteCreateInstance` in
//! `shared/fixtures/pcap/windows-wmi-processcallcreate.pcapng` (frame 24, the first `MEOW`
//! OBJREF in the file). Each property is NDR type serialization version 1; decoding then
//! re-encoding must give Windows' bytes exactly (headers, referent ids, deferral order,
//! padding).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use winv_ndr::*;

fn fixture() -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/pcap/windows-wmi-processcallcreate.pcapng");
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("fixture {} missing under CI: {e}", p.display())
        }
        Err(_) => {
            eprintln!("skipping: fixture {} not found", p.display());
            None
        }
    }
}

/// The activation properties BLOB: dwSize, dwReserved, then CustomHeader and properties.
fn activation_blob(file: &[u8]) -> &[u8] {
    let i = file
        .windows(4)
        .position(|w| w == b"MEOW")
        .expect("an OBJREF in the capture");
    // OBJREF_CUSTOM: signature, flags, iid, clsid, cbExtension, size, then pObjectData.
    &file[i + 48..]
}

/// [MS-DCOM] 2.2.22.1 CustomHeader.
#[derive(Debug, Default, PartialEq)]
struct CustomHeader {
    total_size: u32,
    header_size: u32,
    reserved: u32,
    dest_ctx: u32,
    classinfo_clsid: Uuid,
    pclsid: Option<Vec<Uuid>>,
    psizes: Option<Vec<u32>>,
    pdw_reserved: Option<u32>,
}

impl NdrEncode for CustomHeader {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u32(self.total_size);
        w.u32(self.header_size);
        w.u32(self.reserved);
        w.u32(self.dest_ctx);
        w.u32(self.pclsid.as_ref().map_or(0, |v| v.len() as u32)); // cIfs
        w.uuid(&self.classinfo_clsid);
        self.pclsid.encode_flat(w)?;
        self.psizes.encode_flat(w)?;
        self.pdw_reserved.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.pclsid.encode_deferred(w)?;
        self.psizes.encode_deferred(w)?;
        self.pdw_reserved.encode_deferred(w)
    }
}

impl NdrDecode for CustomHeader {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let total_size = r.u32()?;
        let header_size = r.u32()?;
        let reserved = r.u32()?;
        let dest_ctx = r.u32()?;
        let _c_ifs = r.u32()?;
        Ok(Self {
            total_size,
            header_size,
            reserved,
            dest_ctx,
            classinfo_clsid: r.uuid()?,
            pclsid: Option::decode_flat(r)?,
            psizes: Option::decode_flat(r)?,
            pdw_reserved: Option::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.pclsid.decode_deferred(r)?;
        self.psizes.decode_deferred(r)?;
        self.pdw_reserved.decode_deferred(r)
    }
}

/// [MS-DCOM] 2.2.22.2.7 SecurityInfoData and its COSERVERINFO.
#[derive(Debug, Default, PartialEq)]
struct SecurityInfoData {
    authn_flags: u32,
    server_info: Option<CoServerInfo>,
    pdw_reserved: Option<u32>,
}

#[derive(Debug, Default, PartialEq)]
struct CoServerInfo {
    reserved1: u32,
    name: WString,
    auth_info: Option<u32>, // always null here
    reserved2: u32,
}

impl NdrEncode for CoServerInfo {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u32(self.reserved1);
        self.name.encode_flat(w)?;
        self.auth_info.encode_flat(w)?;
        w.u32(self.reserved2);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.name.encode_deferred(w)?;
        self.auth_info.encode_deferred(w)
    }
}

impl NdrDecode for CoServerInfo {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            reserved1: r.u32()?,
            name: WString::decode_flat(r)?,
            auth_info: Option::decode_flat(r)?,
            reserved2: r.u32()?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.name.decode_deferred(r)?;
        self.auth_info.decode_deferred(r)
    }
}

impl NdrEncode for SecurityInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u32(self.authn_flags);
        self.server_info.encode_flat(w)?;
        self.pdw_reserved.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.server_info.encode_deferred(w)?;
        self.pdw_reserved.encode_deferred(w)
    }
}

impl NdrDecode for SecurityInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            authn_flags: r.u32()?,
            server_info: Option::decode_flat(r)?,
            pdw_reserved: Option::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.server_info.decode_deferred(r)?;
        self.pdw_reserved.decode_deferred(r)
    }
}

/// [MS-DCOM] 2.2.22.2.8 ScmRequestInfoData and customREMOTE_REQUEST_SCM_INFO.
#[derive(Debug, Default, PartialEq)]
struct ScmRequestInfoData {
    pdw_reserved: Option<u32>,
    remote_request: Option<RemoteRequestScmInfo>,
}

#[derive(Debug, Default, PartialEq)]
struct RemoteRequestScmInfo {
    client_imp_level: u32,
    requested_protseqs: Option<Vec<u16>>,
}

impl NdrEncode for RemoteRequestScmInfo {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u32(self.client_imp_level);
        w.u16(
            self.requested_protseqs
                .as_ref()
                .map_or(0, |v| v.len() as u16),
        );
        self.requested_protseqs.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.requested_protseqs.encode_deferred(w)
    }
}

impl NdrDecode for RemoteRequestScmInfo {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let client_imp_level = r.u32()?;
        let _count = r.u16()?;
        Ok(Self {
            client_imp_level,
            requested_protseqs: Option::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.requested_protseqs.decode_deferred(r)
    }
}

impl NdrEncode for ScmRequestInfoData {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        self.pdw_reserved.encode_flat(w)?;
        self.remote_request.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.pdw_reserved.encode_deferred(w)?;
        self.remote_request.encode_deferred(w)
    }
}

impl NdrDecode for ScmRequestInfoData {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            pdw_reserved: Option::decode_flat(r)?,
            remote_request: Option::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.pdw_reserved.decode_deferred(r)?;
        self.remote_request.decode_deferred(r)
    }
}

#[test]
fn windows_activation_properties_decode_and_reencode_exactly() {
    let Some(file) = fixture() else { return };
    let blob = activation_blob(&file);
    let dw_size = u32::from_le_bytes(blob[..4].try_into().unwrap()) as usize;
    assert_eq!(dw_size, 696);
    let props = &blob[8..8 + dw_size];

    // CustomHeader
    let (hdr, used) = decode_type1::<CustomHeader>(props).unwrap();
    assert_eq!(used, 192);
    assert_eq!(hdr.total_size, 696);
    assert_eq!(hdr.header_size, 192);
    assert_eq!(hdr.dest_ctx, 2);
    let clsids = hdr.pclsid.as_ref().unwrap();
    assert_eq!(clsids.len(), 6);
    assert_eq!(
        clsids[0],
        Uuid::parse_str("000001b9-0000-0000-c000-000000000046").unwrap()
    );
    let sizes = hdr.psizes.clone().unwrap();
    assert_eq!(sizes, [0x68, 0x58, 0x90, 0x58, 0x20, 0x30]);
    assert_eq!(encode_type1(&hdr).unwrap(), &props[..used]);

    // Walk the properties: each one's headers announce exactly its pSizes entry.
    let mut at = used;
    let mut each = Vec::new();
    for &sz in &sizes {
        let body = type1_object_buffer(&props[at..]).unwrap();
        assert_eq!(body.len() + TYPE1_HEADERS_LEN, sz as usize);
        each.push(&props[at..at + sz as usize]);
        at += sz as usize;
    }
    assert_eq!(at, props.len());

    // SecurityInfoData (4th): nested pointers, a string, padding to 8.
    let (sec, used) = decode_type1::<SecurityInfoData>(each[3]).unwrap();
    assert_eq!(used, 0x58);
    let info = sec.server_info.as_ref().unwrap();
    assert_eq!(info.name.as_deref(), Some("172.16.66.36"));
    assert_eq!(encode_type1(&sec).unwrap(), each[3]);

    // ScmRequestInfoData (6th): pointer to a struct with a pointer to a conformant array.
    let (scm, _) = decode_type1::<ScmRequestInfoData>(each[5]).unwrap();
    let req = scm.remote_request.as_ref().unwrap();
    assert_eq!(req.client_imp_level, 2);
    assert_eq!(req.requested_protseqs.as_deref(), Some(&[7u16][..]));
    assert_eq!(encode_type1(&scm).unwrap(), each[5]);
}
