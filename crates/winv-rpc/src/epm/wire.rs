//! Stubs of the endpoint mapper's `ept_lookup` (opnum 2) and `ept_map` (opnum 3),
//! [C706] appendix O and [MS-RPCE] 2.2.1.2 / 3.1.1.5. No I/O: requests are
//! encoded to NDR stub bytes and responses decoded from them.

use winv_ndr::{ContextHandle, NdrDecode, NdrEncode, NdrError, NdrReader, NdrWriter, Uuid};

use super::tower::{Tower, TowerError};

/// Opnum of `ept_lookup`.
pub const OPNUM_EPT_LOOKUP: u16 = 2;
/// Opnum of `ept_map`.
pub const OPNUM_EPT_MAP: u16 = 3;

/// `rpc_c_ep_all_elts`: `ept_lookup` inquiry type that returns every entry.
pub const RPC_C_EP_ALL_ELTS: u32 = 0;
/// `rpc_c_vers_all`: version option that matches every version.
pub const RPC_C_VERS_ALL: u32 = 1;

/// `EPT_S_NOT_REGISTERED` (0x16c9a0d6): no (more) entries. Windows returns it
/// with a null handle at the end of a lookup; Samba returns it instead of ending
/// with a null handle, so both mean "done".
pub const EPT_S_NOT_REGISTERED: u32 = 0x16c9_a0d6;
/// `EPT_S_CANT_PERFORM_OP` (0x16c9a0d7).
pub const EPT_S_CANT_PERFORM_OP: u32 = 0x16c9_a0d7;

/// Errors decoding an endpoint-mapper response.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EpmWireError {
    /// The NDR was malformed.
    #[error("endpoint mapper response: {0}")]
    Ndr(#[from] NdrError),
    /// A tower inside it was malformed.
    #[error("endpoint mapper tower: {0}")]
    Tower(#[from] TowerError),
}

/// `twr_t`: a conformant structure, its conformance hoisted before
/// `tower_length` ([C706] appendix L).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Twr(Vec<u8>);

impl NdrEncode for Twr {
    fn encode_flat(&self, w: &mut NdrWriter) -> winv_ndr::Result<()> {
        w.max_count(self.0.len())?;
        w.max_count(self.0.len())?; // tower_length
        w.bytes(&self.0);
        Ok(())
    }
}

impl NdrDecode for Twr {
    fn decode_flat(r: &mut NdrReader<'_>) -> winv_ndr::Result<Self> {
        let max = r.max_count()?;
        let len = r.u32()?;
        if len > max {
            return Err(NdrError::InvalidValue("tower_length above its conformance"));
        }
        r.check_count(u64::from(max), 1)?;
        let bytes = r.bytes(len as usize)?.to_vec();
        // Any allocated-but-unsent tail of the conformant array is present on the wire.
        r.bytes((max - len) as usize)?;
        Ok(Twr(bytes))
    }
}

/// `rpc_if_id_t`: interface UUID and version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IfId {
    uuid: Uuid,
    major: u16,
    minor: u16,
}

impl NdrEncode for IfId {
    fn encode_flat(&self, w: &mut NdrWriter) -> winv_ndr::Result<()> {
        w.uuid(&self.uuid);
        w.u16(self.major);
        w.u16(self.minor);
        Ok(())
    }
}

/// One entry of an `ept_lookup` reply (`ept_entry_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EptEntry {
    /// The object UUID the entry is registered for (often nil).
    pub object: Uuid,
    /// The endpoint's tower, if the entry has one.
    pub tower: Option<Tower>,
    /// The annotation, e.g. the service's description.
    pub annotation: String,
}

#[derive(Default)]
struct RawEntry {
    object: Uuid,
    tower: Option<Twr>,
    annotation: Vec<u8>,
}

impl NdrDecode for RawEntry {
    fn decode_flat(r: &mut NdrReader<'_>) -> winv_ndr::Result<Self> {
        let object = r.uuid()?;
        let tower = Option::<Twr>::decode_flat(r)?;
        // `[string] char annotation[64]`: a varying array, no max_count.
        let (offset, actual) = r.variance(64)?;
        let _ = offset;
        let annotation = r.bytes(actual as usize)?.to_vec();
        Ok(RawEntry {
            object,
            tower,
            annotation,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> winv_ndr::Result<()> {
        self.tower.decode_deferred(r)
    }
}

/// An `ept_lookup` request for every registered entry, `max_ents` at a time.
pub fn encode_lookup(handle: &ContextHandle, max_ents: u32) -> Result<Vec<u8>, NdrError> {
    let mut w = NdrWriter::new();
    w.u32(RPC_C_EP_ALL_ELTS);
    w.write(&Option::<Uuid>::None)?; // object
    w.write(&Option::<IfId>::None)?; // interface_id
    w.u32(RPC_C_VERS_ALL);
    w.write(handle)?;
    w.u32(max_ents);
    Ok(w.into_bytes())
}

/// A decoded `ept_lookup` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupReply {
    /// The handle to pass to the next call (null when the server ends the list).
    pub handle: ContextHandle,
    /// The entries of this batch.
    pub entries: Vec<EptEntry>,
    /// The status (`0`, or [`EPT_S_NOT_REGISTERED`] at the end).
    pub status: u32,
}

/// Decodes an `ept_lookup` reply stub.
pub fn decode_lookup(stub: &[u8]) -> Result<LookupReply, EpmWireError> {
    let mut r = NdrReader::new(stub);
    let handle = r.read::<ContextHandle>()?;
    let _num_ents = r.u32()?;
    let max = r.max_count()?;
    let (_, actual) = r.variance(max)?;
    let mut raw = r.elements::<RawEntry>(actual)?;
    r.elements_deferred(&mut raw)?;
    let status = r.u32()?;
    r.finish()?;
    let mut entries = Vec::with_capacity(raw.len());
    for e in raw {
        let tower = e.tower.map(|t| Tower::decode(&t.0)).transpose()?;
        let text = e.annotation.split(|&b| b == 0).next().unwrap_or_default();
        entries.push(EptEntry {
            object: e.object,
            tower,
            annotation: String::from_utf8_lossy(text).into_owned(),
        });
    }
    Ok(LookupReply {
        handle,
        entries,
        status,
    })
}

/// An `ept_map` request: which towers match `tower` (an interface over a
/// protocol, with port and address left zero).
pub fn encode_map(
    tower: &Tower,
    handle: &ContextHandle,
    max_towers: u32,
) -> Result<Vec<u8>, NdrError> {
    let mut w = NdrWriter::new();
    // Windows sends the object as a non-null pointer to the nil UUID.
    w.write(&Some(Uuid::nil()))?;
    w.write(&Some(Twr(tower.encode())))?;
    w.write(handle)?;
    w.u32(max_towers);
    Ok(w.into_bytes())
}

/// A decoded `ept_map` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapReply {
    /// The handle for a further call.
    pub handle: ContextHandle,
    /// The matching towers.
    pub towers: Vec<Tower>,
    /// The status (`0`, or [`EPT_S_NOT_REGISTERED`]).
    pub status: u32,
}

/// Decodes an `ept_map` reply stub.
pub fn decode_map(stub: &[u8]) -> Result<MapReply, EpmWireError> {
    let mut r = NdrReader::new(stub);
    let handle = r.read::<ContextHandle>()?;
    let _num_towers = r.u32()?;
    let max = r.max_count()?;
    let (_, actual) = r.variance(max)?;
    let mut ptrs = r.elements::<Option<Twr>>(actual)?;
    r.elements_deferred(&mut ptrs)?;
    let status = r.u32()?;
    r.finish()?;
    let towers = ptrs
        .into_iter()
        .flatten()
        .map(|t| Tower::decode(&t.0))
        .collect::<Result<_, _>>()?;
    Ok(MapReply {
        handle,
        towers,
        status,
    })
}

/// Runs both reply decoders on arbitrary bytes (fuzzing entry point).
pub fn fuzz_decode(data: &[u8]) {
    let _ = decode_lookup(data);
    let _ = decode_map(data);
    let _ = Tower::decode(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const NDR: Uuid = Uuid::from_u128(0x8a885d04_1ceb_11c9_9fe8_08002b104860);
    const LSA: Uuid = Uuid::from_u128(0x12345778_1234_abcd_ef00_0123456789ab);

    /// Builds a reply the way a server lays it out, by hand.
    fn map_reply_bytes(towers: &[Vec<u8>], status: u32) -> Vec<u8> {
        let mut b = vec![0u8; 20]; // null handle
        let n = towers.len() as u32;
        b.extend_from_slice(&n.to_le_bytes()); // num_towers
        b.extend_from_slice(&4u32.to_le_bytes()); // max_count = max_towers
        b.extend_from_slice(&0u32.to_le_bytes()); // offset
        b.extend_from_slice(&n.to_le_bytes()); // actual_count
        for i in 0..n {
            b.extend_from_slice(&(0x0002_0000 + 4 * i).to_le_bytes());
        }
        for t in towers {
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
            b.extend_from_slice(&(t.len() as u32).to_le_bytes());
            b.extend_from_slice(&(t.len() as u32).to_le_bytes());
            b.extend_from_slice(t);
        }
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        b.extend_from_slice(&status.to_le_bytes());
        b
    }

    #[test]
    fn tower_bytes_are_c706_layout() {
        let t = Tower::tcp(LSA, (0, 0), NDR, 2, 49667, Ipv4Addr::new(127, 0, 0, 2));
        let b = t.encode();
        assert_eq!(b.len(), 75, "five floors of a TCP tower take 75 bytes");
        assert_eq!(&b[..2], &[5, 0]);
        // floor 4: lhs 0x07, rhs port big-endian
        let port_floor = [1, 0, 0x07, 2, 0, 0xc2, 0x03];
        assert!(b.windows(7).any(|w| w == port_floor));
        let back = Tower::decode(&b).expect("decode");
        assert_eq!(back.tcp_port(), Some(49667));
        assert_eq!(back.ipv4(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(back.interface(), Some((LSA, 0, 0)));
        assert_eq!(back.string_binding(), "ncacn_ip_tcp:127.0.0.2[49667]");
    }

    #[test]
    fn map_reply_with_two_towers() {
        let t1 = Tower::tcp(LSA, (0, 0), NDR, 2, 49152, Ipv4Addr::new(127, 0, 0, 1)).encode();
        let t2 = Tower::tcp(LSA, (0, 0), NDR, 2, 49153, Ipv4Addr::new(127, 0, 0, 1)).encode();
        let reply = decode_map(&map_reply_bytes(&[t1, t2], 0)).expect("decode");
        assert_eq!(reply.status, 0);
        let ports: Vec<_> = reply.towers.iter().filter_map(Tower::tcp_port).collect();
        assert_eq!(ports, vec![49152, 49153]);
    }

    #[test]
    fn map_reply_not_registered_is_empty_not_error() {
        let reply = decode_map(&map_reply_bytes(&[], EPT_S_NOT_REGISTERED)).expect("decode");
        assert!(reply.towers.is_empty());
        assert_eq!(reply.status, EPT_S_NOT_REGISTERED);
        assert!(reply.handle.is_null());
    }

    #[test]
    fn truncated_replies_are_errors() {
        let t1 = Tower::tcp(LSA, (0, 0), NDR, 2, 49152, Ipv4Addr::new(127, 0, 0, 1)).encode();
        let full = map_reply_bytes(&[t1], 0);
        for cut in 0..full.len() {
            assert!(decode_map(&full[..cut]).is_err(), "cut at {cut} must fail");
        }
    }

    #[test]
    fn map_request_layout() {
        let t = Tower::tcp(LSA, (0, 0), NDR, 2, 0, Ipv4Addr::UNSPECIFIED);
        let b = encode_map(&t, &ContextHandle::default(), 4).expect("encode");
        // object pointer + nil uuid, tower pointer, hoisted max_count, length, 75 octets,
        // pad to 4, 20-byte handle, max_towers
        assert_eq!(b.len(), 4 + 16 + 4 + 4 + 4 + 75 + 1 + 20 + 4);
        assert_eq!(&b[..4], &0x0002_0000u32.to_le_bytes());
        assert_eq!(&b[20..24], &0x0002_0004u32.to_le_bytes());
        assert_eq!(&b[b.len() - 4..], &4u32.to_le_bytes());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            fuzz_decode(&data);
        }
    }
}
