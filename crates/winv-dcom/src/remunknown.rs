//! `IRemUnknown` / `IRemUnknown2` ([MS-DCOM] 3.1.1.5.6, 3.1.1.5.7): reference counting and
//! interface queries on remote objects. Request and response stubs, both directions.

use crate::error::{DcomError, Result};
use crate::objref::StdObjRef;
use crate::orpc::{Hresult, MInterfacePointer, OrpcThat, OrpcThis};
use uuid::Uuid;
use winv_ndr::{NdrDecode, NdrEncode, NdrReader, NdrWriter};

type NdrResult<T> = winv_ndr::Result<T>;

/// `IRemUnknown::RemQueryInterface` opnum ([MS-DCOM] 3.1.1.5.6.1.1).
pub const OPNUM_REM_QUERY_INTERFACE: u16 = 3;
/// `IRemUnknown::RemAddRef` opnum ([MS-DCOM] 3.1.1.5.6.1.2).
pub const OPNUM_REM_ADD_REF: u16 = 4;
/// `IRemUnknown::RemRelease` opnum ([MS-DCOM] 3.1.1.5.6.1.3).
pub const OPNUM_REM_RELEASE: u16 = 5;
/// `IRemUnknown2::RemQueryInterface2` opnum ([MS-DCOM] 3.1.1.5.7.1.1).
pub const OPNUM_REM_QUERY_INTERFACE2: u16 = 6;

/// `REMQIRESULT` ([MS-DCOM] 2.2.23): one queried interface's result (aligned to 8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemQiResult {
    /// `hResult`.
    pub hresult: Hresult,
    /// `std`: the new interface's reference (meaningful on success).
    pub std: StdObjRef,
}

impl NdrEncode for RemQiResult {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.align(8);
        w.u32(self.hresult.0);
        self.std.encode_flat(w)
    }
}
impl NdrDecode for RemQiResult {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        r.align(8)?;
        Ok(Self {
            hresult: Hresult(r.u32()?),
            std: NdrDecode::decode_flat(r)?,
        })
    }
}

/// `REMINTERFACEREF` ([MS-DCOM] 2.2.24): references to add or release on one IPID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemInterfaceRef {
    /// `ipid`.
    pub ipid: Uuid,
    /// `cPublicRefs`.
    pub public_refs: u32,
    /// `cPrivateRefs`.
    pub private_refs: u32,
}

impl NdrEncode for RemInterfaceRef {
    fn encode_flat(&self, w: &mut NdrWriter) -> NdrResult<()> {
        w.uuid(&self.ipid);
        w.u32(self.public_refs);
        w.u32(self.private_refs);
        Ok(())
    }
}
impl NdrDecode for RemInterfaceRef {
    fn decode_flat(r: &mut NdrReader<'_>) -> NdrResult<Self> {
        Ok(Self {
            ipid: r.uuid()?,
            public_refs: r.u32()?,
            private_refs: r.u32()?,
        })
    }
}

/// The in parameters of `RemQueryInterface` ([MS-DCOM] 3.1.1.5.6.1.1) after ORPCTHIS:
/// `ripid`, `cRefs`, `cIids`, `iids`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemQueryInterfaceRequest {
    /// `ripid`: the IPID of an interface on the object.
    pub ipid: Uuid,
    /// `cRefs`: public references requested for each new interface.
    pub refs: u32,
    /// `iids`.
    pub iids: Vec<Uuid>,
}

fn count_u16(n: usize) -> Result<u16> {
    u16::try_from(n).map_err(|_| DcomError::TooLarge("array of more than 65535"))
}

/// Reads a `u16` count then a conformant array whose conformance must equal it.
fn counted<T: NdrDecode>(r: &mut NdrReader<'_>) -> Result<Vec<T>> {
    let n = r.u16()?;
    let v: Vec<T> = r.read()?;
    if v.len() != usize::from(n) {
        return Err(DcomError::Invalid(
            "array count differs from its conformance",
        ));
    }
    Ok(v)
}

/// Encodes the `RemQueryInterface` request stub.
pub fn encode_rem_query_interface_request(
    orpc: &OrpcThis,
    req: &RemQueryInterfaceRequest,
) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.uuid(&req.ipid);
    w.u32(req.refs);
    w.u16(count_u16(req.iids.len())?);
    w.write(&req.iids)?;
    Ok(w.into_bytes())
}

/// Decodes the `RemQueryInterface` request stub.
pub fn decode_rem_query_interface_request(
    stub: &[u8],
) -> Result<(OrpcThis, RemQueryInterfaceRequest)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let ipid = r.uuid()?;
    let refs = r.u32()?;
    let iids = counted(&mut r)?;
    r.finish()?;
    Ok((orpc, RemQueryInterfaceRequest { ipid, refs, iids }))
}

/// Encodes the `RemQueryInterface` response stub: ORPCTHAT, `ppQIResults` (a unique pointer
/// to the array; null when `results` is empty), the HRESULT.
pub fn encode_rem_query_interface_response(
    orpc: &OrpcThat,
    results: &[RemQiResult],
    hresult: Hresult,
) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    let p = (!results.is_empty()).then(|| results.to_vec());
    w.write(&p)?;
    w.write(&hresult)?;
    Ok(w.into_bytes())
}

/// Decodes the `RemQueryInterface` response stub (a null result array gives an empty one).
pub fn decode_rem_query_interface_response(
    stub: &[u8],
) -> Result<(OrpcThat, Vec<RemQiResult>, Hresult)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let results: Option<Vec<RemQiResult>> = r.read()?;
    let hr = r.read()?;
    r.finish()?;
    Ok((orpc, results.unwrap_or_default(), hr))
}

fn encode_refs_request(orpc: &OrpcThis, refs: &[RemInterfaceRef]) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.u16(count_u16(refs.len())?);
    w.write(&refs.to_vec())?;
    Ok(w.into_bytes())
}

fn decode_refs_request(stub: &[u8]) -> Result<(OrpcThis, Vec<RemInterfaceRef>)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let refs = counted(&mut r)?;
    r.finish()?;
    Ok((orpc, refs))
}

/// Encodes the `RemAddRef` request stub ([MS-DCOM] 3.1.1.5.6.1.2).
pub fn encode_rem_add_ref_request(orpc: &OrpcThis, refs: &[RemInterfaceRef]) -> Result<Vec<u8>> {
    encode_refs_request(orpc, refs)
}

/// Decodes the `RemAddRef` request stub.
pub fn decode_rem_add_ref_request(stub: &[u8]) -> Result<(OrpcThis, Vec<RemInterfaceRef>)> {
    decode_refs_request(stub)
}

/// Encodes the `RemAddRef` response stub: ORPCTHAT, `pResults` (one HRESULT per reference),
/// the HRESULT.
pub fn encode_rem_add_ref_response(
    orpc: &OrpcThat,
    results: &[Hresult],
    hresult: Hresult,
) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.write(&results.to_vec())?;
    w.write(&hresult)?;
    Ok(w.into_bytes())
}

/// Decodes the `RemAddRef` response stub.
pub fn decode_rem_add_ref_response(stub: &[u8]) -> Result<(OrpcThat, Vec<Hresult>, Hresult)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let results = r.read()?;
    let hr = r.read()?;
    r.finish()?;
    Ok((orpc, results, hr))
}

/// Encodes the `RemRelease` request stub ([MS-DCOM] 3.1.1.5.6.1.3).
pub fn encode_rem_release_request(orpc: &OrpcThis, refs: &[RemInterfaceRef]) -> Result<Vec<u8>> {
    encode_refs_request(orpc, refs)
}

/// Decodes the `RemRelease` request stub.
pub fn decode_rem_release_request(stub: &[u8]) -> Result<(OrpcThis, Vec<RemInterfaceRef>)> {
    decode_refs_request(stub)
}

/// Encodes the `RemRelease` response stub: ORPCTHAT, the HRESULT.
pub fn encode_rem_release_response(orpc: &OrpcThat, hresult: Hresult) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.write(&hresult)?;
    Ok(w.into_bytes())
}

/// Decodes the `RemRelease` response stub.
pub fn decode_rem_release_response(stub: &[u8]) -> Result<(OrpcThat, Hresult)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let hr = r.read()?;
    r.finish()?;
    Ok((orpc, hr))
}

/// Encodes the `RemQueryInterface2` request stub ([MS-DCOM] 3.1.1.5.7.1.1): ORPCTHIS,
/// `ripid`, `cIids`, `iids`.
pub fn encode_rem_query_interface2_request(
    orpc: &OrpcThis,
    ipid: &Uuid,
    iids: &[Uuid],
) -> Result<Vec<u8>> {
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.uuid(ipid);
    w.u16(count_u16(iids.len())?);
    w.write(&iids.to_vec())?;
    Ok(w.into_bytes())
}

/// Decodes the `RemQueryInterface2` request stub: (ORPCTHIS, ripid, iids).
pub fn decode_rem_query_interface2_request(stub: &[u8]) -> Result<(OrpcThis, Uuid, Vec<Uuid>)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let ipid = r.uuid()?;
    let iids = counted(&mut r)?;
    r.finish()?;
    Ok((orpc, ipid, iids))
}

/// The out parameters of `RemQueryInterface2`: per IID an HRESULT and a marshaled pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemQueryInterface2Reply {
    /// `phr`.
    pub hresults: Vec<Hresult>,
    /// `ppMIF`.
    pub interfaces: Vec<Option<MInterfacePointer>>,
}

/// Encodes the `RemQueryInterface2` response stub: ORPCTHAT, `phr`, `ppMIF`, the HRESULT.
pub fn encode_rem_query_interface2_response(
    orpc: &OrpcThat,
    reply: &RemQueryInterface2Reply,
    hresult: Hresult,
) -> Result<Vec<u8>> {
    if reply.hresults.len() != reply.interfaces.len() {
        return Err(DcomError::Invalid("result and interface counts differ"));
    }
    let mut w = NdrWriter::new();
    w.write(orpc)?;
    w.write(&reply.hresults)?;
    w.write(&reply.interfaces)?;
    w.write(&hresult)?;
    Ok(w.into_bytes())
}

/// Decodes the `RemQueryInterface2` response stub.
pub fn decode_rem_query_interface2_response(
    stub: &[u8],
) -> Result<(OrpcThat, RemQueryInterface2Reply, Hresult)> {
    let mut r = NdrReader::new(stub);
    let orpc = r.read()?;
    let hresults: Vec<Hresult> = r.read()?;
    let interfaces: Vec<Option<MInterfacePointer>> = r.read()?;
    let hr = r.read()?;
    r.finish()?;
    if hresults.len() != interfaces.len() {
        return Err(DcomError::Invalid("result and interface counts differ"));
    }
    Ok((
        orpc,
        RemQueryInterface2Reply {
            hresults,
            interfaces,
        },
        hr,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn qi_request_layout() {
        let req = RemQueryInterfaceRequest {
            ipid: Uuid::from_u128(1),
            refs: 5,
            iids: vec![Uuid::from_u128(2)],
        };
        let b = encode_rem_query_interface_request(&OrpcThis::default(), &req).expect("enc");
        assert_eq!(b.len(), 32 + 16 + 4 + 4 + 4 + 16);
        assert_eq!(&b[48..56], &[5, 0, 0, 0, 1, 0, 0, 0]);
        let (_, back) = decode_rem_query_interface_request(&b).expect("dec");
        assert_eq!(back, req);
    }

    #[test]
    fn qi_count_mismatch_rejected() {
        let req = RemQueryInterfaceRequest {
            ipid: Uuid::nil(),
            refs: 1,
            iids: vec![Uuid::nil()],
        };
        let mut b = encode_rem_query_interface_request(&OrpcThis::default(), &req).expect("enc");
        b[52] = 2; // cIids
        assert!(decode_rem_query_interface_request(&b).is_err());
    }

    #[test]
    fn qi_response_null_results_and_round_trip() {
        let b =
            encode_rem_query_interface_response(&OrpcThat::default(), &[], Hresult::E_NOINTERFACE)
                .expect("enc");
        assert_eq!(b.len(), 16);
        let (_, res, hr) = decode_rem_query_interface_response(&b).expect("dec");
        assert!(res.is_empty());
        assert_eq!(hr, Hresult::E_NOINTERFACE);
        let results = vec![
            RemQiResult {
                hresult: Hresult::S_OK,
                std: StdObjRef {
                    public_refs: 5,
                    oxid: 9,
                    ..Default::default()
                },
            },
            RemQiResult {
                hresult: Hresult::E_NOINTERFACE,
                std: StdObjRef::default(),
            },
        ];
        let b =
            encode_rem_query_interface_response(&OrpcThat::default(), &results, Hresult::S_FALSE)
                .expect("enc");
        let (_, res, hr) = decode_rem_query_interface_response(&b).expect("dec");
        assert_eq!(res, results);
        assert_eq!(hr, Hresult::S_FALSE);
    }

    #[test]
    fn add_ref_release_qi2_round_trip() {
        let refs = vec![RemInterfaceRef {
            ipid: Uuid::from_u128(3),
            public_refs: 5,
            private_refs: 0,
        }];
        let o = OrpcThis::default();
        let b = encode_rem_add_ref_request(&o, &refs).expect("enc");
        assert_eq!(b.len(), 32 + 4 + 4 + 24);
        assert_eq!(
            decode_rem_add_ref_request(&b).expect("dec"),
            (o.clone(), refs.clone())
        );
        let b = encode_rem_add_ref_response(&OrpcThat::default(), &[Hresult::S_OK], Hresult::S_OK)
            .expect("enc");
        assert_eq!(
            decode_rem_add_ref_response(&b).expect("dec").1,
            vec![Hresult::S_OK]
        );
        let b = encode_rem_release_response(&OrpcThat::default(), Hresult::E_FAIL).expect("enc");
        assert_eq!(b.len(), 12);
        assert_eq!(
            decode_rem_release_response(&b).expect("dec").1,
            Hresult::E_FAIL
        );
        let b = encode_rem_query_interface2_request(&o, &Uuid::from_u128(4), &[Uuid::from_u128(5)])
            .expect("enc");
        let (_, ipid, iids) = decode_rem_query_interface2_request(&b).expect("dec");
        assert_eq!((ipid, iids), (Uuid::from_u128(4), vec![Uuid::from_u128(5)]));
        let reply = RemQueryInterface2Reply {
            hresults: vec![Hresult::S_OK, Hresult::E_NOINTERFACE],
            interfaces: vec![
                Some(MInterfacePointer {
                    data: vec![1, 2, 3],
                }),
                None,
            ],
        };
        let b = encode_rem_query_interface2_response(&OrpcThat::default(), &reply, Hresult::S_OK)
            .expect("enc");
        assert_eq!(
            decode_rem_query_interface2_response(&b).expect("dec").1,
            reply
        );
    }

    proptest! {
        #[test]
        fn remunknown_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_rem_query_interface_request(&data);
            let _ = decode_rem_query_interface_response(&data);
            let _ = decode_rem_add_ref_request(&data);
            let _ = decode_rem_add_ref_response(&data);
            let _ = decode_rem_release_request(&data);
            let _ = decode_rem_release_response(&data);
            let _ = decode_rem_query_interface2_request(&data);
            let _ = decode_rem_query_interface2_response(&data);
        }

        #[test]
        fn release_round_trip(ipids in proptest::collection::vec((any::<u128>(), any::<u32>(), any::<u32>()), 0..5)) {
            let refs: Vec<RemInterfaceRef> = ipids.into_iter().map(|(i, p, q)| RemInterfaceRef {
                ipid: Uuid::from_u128(i), public_refs: p, private_refs: q }).collect();
            let b = encode_rem_release_request(&OrpcThis::default(), &refs).expect("enc");
            prop_assert_eq!(decode_rem_release_request(&b).expect("dec").1, refs);
        }
    }
}
