//! Entry point that runs every decoder of this crate on arbitrary input (for the fuzz target
//! and the "never panics" property tests).

use crate::{
    decode_type1, CharString, ConformantVaryingArray, ContextHandle, Full, NdrDecode, NdrReader,
    Ref, Result, RpcUnicodeString, VaryingArray, WString, WcharString,
};
use uuid::Uuid;

/// A structure with two embedded unique string pointers and a conformant array, the common
/// shape of RPC stub structures (C706 14.3.12.3); exercised by [`fuzz_decode_all`].
#[derive(Debug, Clone, Default, PartialEq)]
struct Sample {
    a: u32,
    s1: WString,
    s2: Option<WcharString>,
    h: u64,
    list: Option<Vec<RpcUnicodeString>>,
    full: Full<WcharString>,
    r: Ref<ContextHandle>,
}

impl NdrDecode for Sample {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            a: r.u32()?,
            s1: NdrDecode::decode_flat(r)?,
            s2: NdrDecode::decode_flat(r)?,
            h: r.u64()?,
            list: NdrDecode::decode_flat(r)?,
            full: NdrDecode::decode_flat(r)?,
            r: NdrDecode::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.s1.decode_deferred(r)?;
        self.s2.decode_deferred(r)?;
        self.list.decode_deferred(r)?;
        self.full.decode_deferred(r)?;
        self.r.decode_deferred(r)
    }
}

fn one<T: NdrDecode>(data: &[u8]) -> bool {
    NdrReader::new(data).read::<T>().is_ok()
}

/// Runs every decoder of this crate on `data` and returns how many succeeded. Never panics
/// and never allocates more than `data` justifies (the property the fuzz target checks).
pub fn fuzz_decode_all(data: &[u8]) -> usize {
    let results = [
        one::<u8>(data),
        one::<u16>(data),
        one::<u32>(data),
        one::<u64>(data),
        one::<f64>(data),
        one::<bool>(data),
        one::<Uuid>(data),
        one::<ContextHandle>(data),
        one::<WcharString>(data),
        one::<WString>(data),
        one::<CharString>(data),
        one::<RpcUnicodeString>(data),
        one::<Vec<u32>>(data),
        one::<Vec<WString>>(data),
        one::<Vec<Vec<u16>>>(data),
        one::<[u16; 3]>(data),
        one::<VaryingArray<u16>>(data),
        one::<ConformantVaryingArray<u8>>(data),
        one::<ConformantVaryingArray<Option<WcharString>>>(data),
        one::<Full<WcharString>>(data),
        one::<Vec<Full<WcharString>>>(data),
        one::<Ref<u32>>(data),
        one::<Sample>(data),
        decode_type1::<Sample>(data).is_ok(),
        decode_type1::<RpcUnicodeString>(data).is_ok(),
    ];
    results.iter().filter(|ok| **ok).count()
}
