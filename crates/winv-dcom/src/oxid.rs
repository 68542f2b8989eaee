//! `IObjectExporter` ([MS-DCOM] 3.1.2.5.1), the OXID resolver on port 135: `SimplePing`
//! (opnum 1), `ComplexPing` (2), `ResolveOxid2` (4) and `ServerAlive2` (5). These calls carry
//! no ORPCTHIS; they return an `error_status_t`.

use crate::error::{DcomError, Result};
use crate::objref::DualStringArray;
use crate::orpc::ComVersion;
use uuid::Uuid;
use winv_ndr::{NdrReader, NdrWriter};

/// `SimplePing` opnum ([MS-DCOM] 3.1.2.5.1.2).
pub const OPNUM_SIMPLE_PING: u16 = 1;
/// `ComplexPing` opnum ([MS-DCOM] 3.1.2.5.1.3).
pub const OPNUM_COMPLEX_PING: u16 = 2;
/// `ServerAlive` opnum ([MS-DCOM] 3.1.2.5.1.4).
pub const OPNUM_SERVER_ALIVE: u16 = 3;
/// `ResolveOxid2` opnum ([MS-DCOM] 3.1.2.5.1.5).
pub const OPNUM_RESOLVE_OXID2: u16 = 4;
/// `ServerAlive2` opnum ([MS-DCOM] 3.1.2.5.1.6).
pub const OPNUM_SERVER_ALIVE2: u16 = 5;

/// The out parameters of `ServerAlive2` ([MS-DCOM] 3.1.2.5.1.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerAlive2Reply {
    /// `pComVersion`.
    pub com_version: ComVersion,
    /// `ppdsaOrBindings`: the resolver's bindings (null decodes to `None`).
    pub bindings: Option<DualStringArray>,
    /// `pReserved`.
    pub reserved: u32,
}

/// The `ServerAlive2` request stub is empty ([MS-DCOM] 3.1.2.5.1.6: only the binding handle).
pub fn encode_server_alive2_request() -> Vec<u8> {
    Vec::new()
}

/// Checks a `ServerAlive2` request stub (empty).
pub fn decode_server_alive2_request(stub: &[u8]) -> Result<()> {
    match stub.len() {
        0 => Ok(()),
        n => Err(DcomError::TrailingBytes(n)),
    }
}

/// Encodes the `ServerAlive2` response stub: COMVERSION, `[ref] DUALSTRINGARRAY**` (a unique
/// pointer and its referent), `pReserved`, `error_status_t`.
pub fn encode_server_alive2_response(reply: &ServerAlive2Reply, status: u32) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(&reply.com_version)?;
    w.write(&reply.bindings)?;
    w.u32(reply.reserved);
    w.u32(status);
    Ok(w.into_bytes())
}

/// Decodes the `ServerAlive2` response stub: the reply and the `error_status_t`.
pub fn decode_server_alive2_response(stub: &[u8]) -> Result<(ServerAlive2Reply, u32)> {
    let mut r = NdrReader::new(stub);
    let com_version = r.read()?;
    let bindings = r.read()?;
    let reserved = r.u32()?;
    let status = r.u32()?;
    r.finish()?;
    Ok((
        ServerAlive2Reply {
            com_version,
            bindings,
            reserved,
        },
        status,
    ))
}

/// Encodes the `SimplePing` request stub ([MS-DCOM] 3.1.2.5.1.2): the SETID.
pub fn encode_simple_ping_request(set_id: u64) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.u64(set_id);
    w.into_bytes()
}

/// Decodes the `SimplePing` request stub.
pub fn decode_simple_ping_request(stub: &[u8]) -> Result<u64> {
    let mut r = NdrReader::new(stub);
    let v = r.u64()?;
    r.finish()?;
    Ok(v)
}

/// Encodes a response stub that is only an `error_status_t` (`SimplePing`).
pub fn encode_status_response(status: u32) -> Vec<u8> {
    status.to_le_bytes().to_vec()
}

/// Decodes a response stub that is only an `error_status_t`.
pub fn decode_status_response(stub: &[u8]) -> Result<u32> {
    let mut r = NdrReader::new(stub);
    let v = r.u32()?;
    r.finish()?;
    Ok(v)
}

/// The in parameters of `ComplexPing` ([MS-DCOM] 3.1.2.5.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplexPingRequest {
    /// `pSetId` (0 to create a set).
    pub set_id: u64,
    /// `SequenceNum`.
    pub sequence: u16,
    /// `AddToSet` OIDs (`None` is the null pointer).
    pub add: Option<Vec<u64>>,
    /// `DelFromSet` OIDs.
    pub del: Option<Vec<u64>>,
}

fn len_u16(v: &Option<Vec<u64>>) -> Result<u16> {
    u16::try_from(v.as_ref().map_or(0, Vec::len)).map_err(|_| DcomError::TooLarge("oid set"))
}

/// Encodes the `ComplexPing` request stub.
pub fn encode_complex_ping_request(req: &ComplexPingRequest) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.u64(req.set_id);
    w.u16(req.sequence);
    w.u16(len_u16(&req.add)?);
    w.u16(len_u16(&req.del)?);
    w.write(&req.add)?;
    w.write(&req.del)?;
    Ok(w.into_bytes())
}

/// Decodes the `ComplexPing` request stub.
pub fn decode_complex_ping_request(stub: &[u8]) -> Result<ComplexPingRequest> {
    let mut r = NdrReader::new(stub);
    let set_id = r.u64()?;
    let sequence = r.u16()?;
    let n_add = r.u16()?;
    let n_del = r.u16()?;
    let add: Option<Vec<u64>> = r.read()?;
    let del: Option<Vec<u64>> = r.read()?;
    r.finish()?;
    let req = ComplexPingRequest {
        set_id,
        sequence,
        add,
        del,
    };
    if len_u16(&req.add)? != n_add || len_u16(&req.del)? != n_del {
        return Err(DcomError::Invalid("oid count differs from its conformance"));
    }
    Ok(req)
}

/// Encodes the `ComplexPing` response stub: `pSetId`, `pPingBackoffFactor`, status.
pub fn encode_complex_ping_response(set_id: u64, backoff: u16, status: u32) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.u64(set_id);
    w.u16(backoff);
    w.u32(status);
    w.into_bytes()
}

/// Decodes the `ComplexPing` response stub: (SETID, ping backoff factor, status).
pub fn decode_complex_ping_response(stub: &[u8]) -> Result<(u64, u16, u32)> {
    let mut r = NdrReader::new(stub);
    let v = (r.u64()?, r.u16()?, r.u32()?);
    r.finish()?;
    Ok(v)
}

/// Encodes the `ResolveOxid2` request stub ([MS-DCOM] 3.1.2.5.1.5): `pOxid`,
/// `cRequestedProtseqs`, `arRequestedProtseqs`.
pub fn encode_resolve_oxid2_request(oxid: u64, protseqs: &[u16]) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.u64(oxid);
    w.u16(u16::try_from(protseqs.len()).map_err(|_| DcomError::TooLarge("protseqs"))?);
    w.write(&protseqs.to_vec())?;
    Ok(w.into_bytes())
}

/// Decodes the `ResolveOxid2` request stub: (OXID, requested tower ids).
pub fn decode_resolve_oxid2_request(stub: &[u8]) -> Result<(u64, Vec<u16>)> {
    let mut r = NdrReader::new(stub);
    let oxid = r.u64()?;
    let n = r.u16()?;
    let p: Vec<u16> = r.read()?;
    r.finish()?;
    if p.len() != usize::from(n) {
        return Err(DcomError::Invalid(
            "protseq count differs from its conformance",
        ));
    }
    Ok((oxid, p))
}

/// The out parameters of `ResolveOxid2` ([MS-DCOM] 3.1.2.5.1.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveOxid2Reply {
    /// `ppdsaOxidBindings`.
    pub bindings: Option<DualStringArray>,
    /// `pipidRemUnknown`.
    pub ipid_rem_unknown: Uuid,
    /// `pAuthnHint`.
    pub authn_hint: u32,
    /// `pComVersion`.
    pub com_version: ComVersion,
}

/// Encodes the `ResolveOxid2` response stub.
pub fn encode_resolve_oxid2_response(reply: &ResolveOxid2Reply, status: u32) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(&reply.bindings)?;
    w.uuid(&reply.ipid_rem_unknown);
    w.u32(reply.authn_hint);
    w.write(&reply.com_version)?;
    w.u32(status);
    Ok(w.into_bytes())
}

/// Decodes the `ResolveOxid2` response stub: the reply and the status.
pub fn decode_resolve_oxid2_response(stub: &[u8]) -> Result<(ResolveOxid2Reply, u32)> {
    let mut r = NdrReader::new(stub);
    let bindings = r.read()?;
    let ipid_rem_unknown = r.uuid()?;
    let authn_hint = r.u32()?;
    let com_version = r.read()?;
    let status = r.u32()?;
    r.finish()?;
    Ok((
        ResolveOxid2Reply {
            bindings,
            ipid_rem_unknown,
            authn_hint,
            com_version,
        },
        status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objref::{SecurityBinding, StringBinding};
    use proptest::prelude::*;

    fn dsa() -> DualStringArray {
        DualStringArray {
            string_bindings: vec![StringBinding {
                tower_id: 7,
                network_addr: "HOST".into(),
            }],
            security_bindings: vec![SecurityBinding {
                authn_svc: 10,
                authz_svc: 0xffff,
                principal_name: String::new(),
            }],
        }
    }

    #[test]
    fn server_alive2_layout_and_round_trip() {
        let reply = ServerAlive2Reply {
            com_version: ComVersion::V5_7,
            bindings: Some(dsa()),
            reserved: 0,
        };
        let b = encode_server_alive2_response(&reply, 0).expect("enc");
        // COMVERSION, referent id, max_count, wNumEntries, wSecurityOffset.
        assert_eq!(&b[..8], &[5, 0, 7, 0, 0, 0, 2, 0]);
        let (units, sec) = dsa().to_units().expect("units");
        assert_eq!(&b[8..12], &(units.len() as u32).to_le_bytes());
        assert_eq!(&b[14..16], &sec.to_le_bytes());
        assert_eq!(decode_server_alive2_response(&b).expect("dec"), (reply, 0));
        assert!(decode_server_alive2_request(&[]).is_ok());
        assert!(decode_server_alive2_request(&[0]).is_err());
    }

    #[test]
    fn pings_and_resolve_round_trip() {
        assert_eq!(
            decode_simple_ping_request(&encode_simple_ping_request(42)).expect("d"),
            42
        );
        assert_eq!(
            decode_status_response(&encode_status_response(5)).expect("d"),
            5
        );
        let req = ComplexPingRequest {
            set_id: 0,
            sequence: 1,
            add: Some(vec![1, 2]),
            del: None,
        };
        let b = encode_complex_ping_request(&req).expect("enc");
        assert_eq!(decode_complex_ping_request(&b).expect("dec"), req);
        let b = encode_complex_ping_response(9, 2, 0);
        assert_eq!(decode_complex_ping_response(&b).expect("dec"), (9, 2, 0));
        let b = encode_resolve_oxid2_request(7, &[7, 15]).expect("enc");
        assert_eq!(
            decode_resolve_oxid2_request(&b).expect("dec"),
            (7, vec![7, 15])
        );
        let reply = ResolveOxid2Reply {
            bindings: Some(dsa()),
            ipid_rem_unknown: Uuid::from_u128(0xc000),
            authn_hint: 4,
            com_version: ComVersion::V5_7,
        };
        let b = encode_resolve_oxid2_response(&reply, 0).expect("enc");
        assert_eq!(decode_resolve_oxid2_response(&b).expect("dec"), (reply, 0));
    }

    proptest! {
        #[test]
        fn oxid_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_server_alive2_response(&data);
            let _ = decode_simple_ping_request(&data);
            let _ = decode_complex_ping_request(&data);
            let _ = decode_complex_ping_response(&data);
            let _ = decode_resolve_oxid2_request(&data);
            let _ = decode_resolve_oxid2_response(&data);
        }
    }
}
