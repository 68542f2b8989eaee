// Shared test structures (included with `mod common;`).
#![allow(dead_code)]

use winv_ndr::{NdrDecode, NdrEncode, NdrReader, NdrWriter, Result, WString, WcharString};

/// typedef struct { DWORD a; [string, unique] wchar_t* s1; [string, unique] wchar_t* s2; hyper h; }
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TwoStrings {
    pub a: u32,
    pub s1: WString,
    pub s2: Option<WcharString>,
    pub h: u64,
}

impl NdrEncode for TwoStrings {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u32(self.a);
        self.s1.encode_flat(w)?;
        self.s2.encode_flat(w)?;
        w.u64(self.h);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.s1.encode_deferred(w)?;
        self.s2.encode_deferred(w)
    }
}

impl NdrDecode for TwoStrings {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            a: r.u32()?,
            s1: WString::decode_flat(r)?,
            s2: Option::decode_flat(r)?,
            h: r.u64()?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.s1.decode_deferred(r)?;
        self.s2.decode_deferred(r)
    }
}

/// A conformant structure: typedef struct { DWORD tag; [size_is(*)] unsigned short v[]; }
/// (conformance hoisted to the front, C706 14.3.7.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfStruct {
    pub tag: u32,
    pub v: Vec<u16>,
}

impl NdrEncode for ConfStruct {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.max_count(self.v.len())?;
        w.u32(self.tag);
        w.elements(&self.v)
    }
}

impl NdrDecode for ConfStruct {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let n = r.max_count()?;
        let tag = r.u32()?;
        let v = r.elements(n)?;
        Ok(Self { tag, v })
    }
}

/// typedef struct { [unique] TwoStrings* inner; [string, unique] wchar_t* tail; }
/// Nested embedded pointers: the inner referent's own referents come before `tail`'s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nested {
    pub inner: Option<TwoStrings>,
    pub tail: WString,
}

impl NdrEncode for Nested {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        self.inner.encode_flat(w)?;
        self.tail.encode_flat(w)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        self.inner.encode_deferred(w)?;
        self.tail.encode_deferred(w)
    }
}

impl NdrDecode for Nested {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(Self {
            inner: Option::decode_flat(r)?,
            tail: WString::decode_flat(r)?,
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.inner.decode_deferred(r)?;
        self.tail.decode_deferred(r)
    }
}

pub fn encode<T: NdrEncode>(v: &T) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.write(v).expect("encode");
    w.into_bytes()
}

pub fn decode<T: NdrDecode>(b: &[u8]) -> Result<T> {
    let mut r = NdrReader::new(b);
    let v = r.read::<T>()?;
    r.finish()?;
    Ok(v)
}
