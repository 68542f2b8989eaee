//! The [`NdrEncode`] / [`NdrDecode`] traits and their implementations for primitives,
//! pointers and arrays ([MS-RPCE] 2.2.5, C706 14.2 and 14.3).

use crate::error::{NdrError, Result};
use crate::{NdrReader, NdrWriter};
use std::sync::Arc;
use uuid::Uuid;

/// A type with an NDR representation that can be encoded (C706 14.3).
///
/// NDR places the referents of pointers embedded in a structure or array after that
/// construction (C706 14.3.12.3), so encoding has two phases:
/// - [`encode_flat`](NdrEncode::encode_flat) writes the value in place: scalars, and for
///   each embedded pointer only its referent id;
/// - [`encode_deferred`](NdrEncode::encode_deferred) then writes the referents of those
///   pointers, in member order, each one complete (its own flat part then its own deferred
///   referents), as Windows does.
///
/// A structure with no pointers only implements `encode_flat`.
/// [`NdrWriter::write`] runs both phases for a top-level value (one call parameter).
pub trait NdrEncode {
    /// Writes the value in place (embedded pointers as referent ids only).
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()>;
    /// Writes the referents of the embedded pointers. Default: nothing.
    fn encode_deferred(&self, _w: &mut NdrWriter) -> Result<()> {
        Ok(())
    }
}

/// A type with an NDR representation that can be decoded (C706 14.3); the mirror of
/// [`NdrEncode`].
///
/// [`decode_flat`](NdrDecode::decode_flat) reads the in-place part; a non-null embedded
/// pointer decodes to a placeholder (`Some(T::default())`) that
/// [`decode_deferred`](NdrDecode::decode_deferred) replaces with the referent.
/// INVARIANT: a value produced by `decode_flat` is only complete after `decode_deferred`
/// has run on it; [`NdrReader::read`] runs both.
pub trait NdrDecode: Sized {
    /// Reads the in-place part of the value.
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self>;
    /// Reads the referents of the embedded pointers. Default: nothing.
    fn decode_deferred(&mut self, _r: &mut NdrReader<'_>) -> Result<()> {
        Ok(())
    }
}

macro_rules! primitive {
    ($($t:ty => $m:ident),* $(,)?) => {$(
        impl NdrEncode for $t {
            fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
                w.$m(*self);
                Ok(())
            }
        }
        impl NdrDecode for $t {
            fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
                r.$m()
            }
        }
    )*};
}

primitive!(u8 => u8, i8 => i8, u16 => u16, i16 => i16, u32 => u32, i32 => i32,
    u64 => u64, i64 => i64, f32 => f32, f64 => f64);

/// NDR `boolean`: one octet, 0 is false, anything else true (C706 14.2.3).
impl NdrEncode for bool {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.u8(u8::from(*self));
        Ok(())
    }
}
impl NdrDecode for bool {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(r.u8()? != 0)
    }
}

/// GUID / UUID, 16 bytes aligned to 4, little-endian fields ([MS-DTYP] 2.3.4.2).
impl NdrEncode for Uuid {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.uuid(self);
        Ok(())
    }
}
impl NdrDecode for Uuid {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        r.uuid()
    }
}

/// `[unique]` pointer (C706 14.3.10, [MS-RPCE] 2.2.5.3.3): `None` is a null referent id,
/// `Some` gets a fresh non-zero referent id and its referent is deferred.
impl<T: NdrEncode> NdrEncode for Option<T> {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.pointer(self.is_some());
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        match self {
            Some(v) => w.write(v),
            None => Ok(()),
        }
    }
}
impl<T: NdrDecode + Default> NdrDecode for Option<T> {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(r.pointer()?.map(|_| T::default()))
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        if let Some(v) = self {
            *v = r.read()?;
        }
        Ok(())
    }
}

/// An embedded `[ref]` pointer (C706 14.3.10): never null, represented by a referent id when
/// embedded in a structure or array. A top-level `[ref]` pointer parameter has no wire
/// representation: write its referent directly instead of wrapping it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ref<T>(pub T);

impl<T: NdrEncode> NdrEncode for Ref<T> {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        let id = w.next_referent_id();
        w.u32(id);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        w.write(&self.0)
    }
}
impl<T: NdrDecode + Default> NdrDecode for Ref<T> {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        r.ref_pointer()?;
        Ok(Ref(T::default()))
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        self.0 = r.read()?;
        Ok(())
    }
}

/// A full (`[ptr]`) pointer (C706 14.3.11): pointers to the same `Arc` share one referent id
/// and the referent is sent once, where the first of them is deferred. Decoding a repeated
/// referent id yields a clone of the same `Arc` (no copy of the referent).
#[derive(Debug, Clone, Default)]
pub struct Full<T> {
    /// The referent, or `None` for a null pointer.
    pub value: Option<Arc<T>>,
    /// Referent id read from the wire (0 when built locally).
    wire_id: u32,
}

impl<T> Full<T> {
    /// A full pointer to `value`.
    pub fn new(value: T) -> Self {
        Self::from_arc(Arc::new(value))
    }
    /// A full pointer to a shared referent (pointers to the same `Arc` alias).
    pub fn from_arc(value: Arc<T>) -> Self {
        Self {
            value: Some(value),
            wire_id: 0,
        }
    }
    /// A null full pointer.
    pub fn null() -> Self {
        Self {
            value: None,
            wire_id: 0,
        }
    }
}

impl<T: PartialEq> PartialEq for Full<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: NdrEncode + 'static> NdrEncode for Full<T> {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        let id = match &self.value {
            Some(a) => w.full_pointer_id(a),
            None => 0,
        };
        w.u32(id);
        Ok(())
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        match &self.value {
            Some(a) if w.full_pointer_take_first(a) => w.write(a.as_ref()),
            _ => Ok(()),
        }
    }
}
impl<T: NdrDecode + Default + 'static> NdrDecode for Full<T> {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        Ok(match r.pointer()? {
            Some(id) => Self {
                value: Some(Arc::new(T::default())),
                wire_id: id,
            },
            None => Self::null(),
        })
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        if self.value.is_none() {
            return Ok(());
        }
        let at = r.position();
        match r.full_referent::<Arc<T>>(self.wire_id) {
            Some(Some(a)) => self.value = Some(a),
            // The same referent id was used earlier for a referent of another type.
            Some(None) => {
                return Err(NdrError::InvalidPointer {
                    referent_id: self.wire_id,
                    at,
                })
            }
            None => {
                let a = Arc::new(r.read::<T>()?);
                r.remember_full(self.wire_id, &a);
                self.value = Some(a);
            }
        }
        Ok(())
    }
}

/// Conformant array `[size_is(n)] T[]` (C706 14.3.3.2): max_count then the elements, then
/// the elements' deferred referents. Inside a conformant structure, write the conformance
/// first with [`NdrWriter::max_count`] and the elements with [`NdrWriter::elements`] instead.
impl<T: NdrEncode> NdrEncode for Vec<T> {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.conformant_array(self)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        w.elements_deferred(self)
    }
}
impl<T: NdrDecode> NdrDecode for Vec<T> {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        r.conformant_array()
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        r.elements_deferred(self)
    }
}

/// Fixed array `T[N]` (C706 14.3.3.1): the elements only.
impl<T: NdrEncode, const N: usize> NdrEncode for [T; N] {
    fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
        w.elements(self)
    }
    fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
        w.elements_deferred(self)
    }
}
impl<T: NdrDecode, const N: usize> NdrDecode for [T; N] {
    fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
        let n = u32::try_from(N).map_err(|_| NdrError::TooLarge("fixed array"))?;
        let v = r.elements::<T>(n)?;
        v.try_into()
            .map_err(|_| NdrError::InvalidValue("fixed array length"))
    }
    fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
        r.elements_deferred(self)
    }
}
