//! The NDR decoder ([MS-RPCE] 2.2.5, C706 chapter 14).

use crate::error::{NdrError, Result};
use crate::NdrDecode;
use std::any::Any;
use std::collections::HashMap;
use uuid::Uuid;

/// An NDR 2.0 little-endian decoder over a borrowed buffer (C706 14.2, [MS-RPCE] 2.2.5).
///
/// Alignment is relative to the start of `data`, which must be the start of the NDR stream.
/// Alignment padding is skipped whatever its value. Every count read from the wire is checked
/// against the remaining input before anything is allocated.
pub struct NdrReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Referents of full pointers already decoded, by referent id (C706 14.3.11).
    full: HashMap<u32, Box<dyn Any>>,
}

impl std::fmt::Debug for NdrReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdrReader")
            .field("len", &self.data.len())
            .field("pos", &self.pos)
            .field("full_pointers", &self.full.len())
            .finish()
    }
}

impl<'a> NdrReader<'a> {
    /// A decoder positioned at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            full: HashMap::new(),
        }
    }

    /// Current offset in the stream.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Fails with [`NdrError::TrailingBytes`] unless all input was consumed.
    pub fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(NdrError::TrailingBytes(n)),
        }
    }

    /// Skips padding up to a multiple of `n` (any byte values are accepted).
    pub fn align(&mut self, n: usize) -> Result<()> {
        if n > 1 {
            let rem = self.pos % n;
            if rem != 0 {
                self.take(n - rem)?;
            }
        }
        Ok(())
    }

    /// Reads `n` raw bytes, without alignment.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take(n)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(NdrError::UnexpectedEnd {
            needed: n,
            at: self.pos,
        })?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(NdrError::UnexpectedEnd {
                needed: n,
                at: self.pos,
            })?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    /// Reads an `i8`.
    pub fn i8(&mut self) -> Result<i8> {
        Ok(self.u8()? as i8)
    }
    /// Aligns to 2 and reads a `u16`.
    pub fn u16(&mut self) -> Result<u16> {
        self.align(2)?;
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Aligns to 2 and reads an `i16`.
    pub fn i16(&mut self) -> Result<i16> {
        Ok(self.u16()? as i16)
    }
    /// Aligns to 4 and reads a `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Aligns to 4 and reads an `i32`.
    pub fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }
    /// Aligns to 8 and reads a `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        self.align(8)?;
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Aligns to 8 and reads an `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }
    /// Aligns to 4 and reads an IEEE `float`.
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_bits(self.u32()?))
    }
    /// Aligns to 8 and reads an IEEE `double`.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Aligns to 4 and reads a GUID in its little-endian-fields layout ([MS-DTYP] 2.3.4.2).
    pub fn uuid(&mut self) -> Result<Uuid> {
        self.align(4)?;
        Ok(Uuid::from_bytes_le(self.array()?))
    }

    /// Reads a unique or full pointer: `None` for null, else the referent id.
    pub fn pointer(&mut self) -> Result<Option<u32>> {
        let id = self.u32()?;
        Ok((id != 0).then_some(id))
    }

    /// Reads an embedded `[ref]` pointer, which must not be null.
    pub fn ref_pointer(&mut self) -> Result<u32> {
        let at = self.pos;
        match self.u32()? {
            0 => Err(NdrError::InvalidPointer { referent_id: 0, at }),
            id => Ok(id),
        }
    }

    /// Decodes a complete top-level value: flat part then deferred referents.
    pub fn read<T: NdrDecode>(&mut self) -> Result<T> {
        let mut v = T::decode_flat(self)?;
        v.decode_deferred(self)?;
        Ok(v)
    }

    /// Checks that `count` elements of at least `min_size` bytes each can fit in the rest
    /// of the input.
    pub fn check_count(&self, count: u64, min_size: usize) -> Result<()> {
        let need = count.checked_mul(min_size.max(1) as u64);
        match need {
            Some(n) if n <= self.remaining() as u64 => Ok(()),
            _ => Err(NdrError::CountTooLarge {
                count,
                remaining: self.remaining(),
                at: self.pos,
            }),
        }
    }

    /// Reads a conformance count (`max_count`; also the hoisted conformance of a conformant
    /// structure, C706 14.3.7.1).
    pub fn max_count(&mut self) -> Result<u32> {
        self.u32()
    }

    /// Reads a variance pair and checks `offset + actual_count <= max_count` (C706 14.3.3.4).
    /// Returns `(offset, actual_count)`.
    pub fn variance(&mut self, max_count: u32) -> Result<(u32, u32)> {
        let offset = self.u32()?;
        let actual_count = self.u32()?;
        match offset.checked_add(actual_count) {
            Some(end) if end <= max_count => Ok((offset, actual_count)),
            _ => Err(NdrError::BadBounds {
                offset,
                actual_count,
                max_count,
            }),
        }
    }

    /// Reads the flat part of `count` elements. The count is checked against the remaining
    /// input (each element takes at least one byte) before allocating.
    pub fn elements<T: NdrDecode>(&mut self, count: u32) -> Result<Vec<T>> {
        self.check_count(u64::from(count), 1)?;
        // INVARIANT: count <= remaining, so the capacity is bounded by the input length.
        let mut v = Vec::with_capacity(count as usize);
        for _ in 0..count {
            v.push(T::decode_flat(self)?);
        }
        Ok(v)
    }

    /// Reads the deferred referents of each element, in element order.
    pub fn elements_deferred<T: NdrDecode>(&mut self, items: &mut [T]) -> Result<()> {
        for it in items {
            it.decode_deferred(self)?;
        }
        Ok(())
    }

    /// Reads the flat part of a conformant array (max_count then elements, C706 14.3.3.2).
    /// The caller must then run [`NdrReader::elements_deferred`].
    pub fn conformant_array<T: NdrDecode>(&mut self) -> Result<Vec<T>> {
        let n = self.max_count()?;
        self.elements(n)
    }

    /// Reads `count` UTF-16 units (aligned to 2).
    pub fn u16_units(&mut self, count: u32) -> Result<Vec<u16>> {
        self.align(2)?;
        self.check_count(u64::from(count), 2)?;
        let raw = self.take(count as usize * 2)?;
        Ok(raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }

    /// Reads a `[string] wchar_t*` referent (conformant varying array of UTF-16 units whose last
    /// unit is the NUL terminator, C706 14.3.4). Returns the string without the terminator.
    pub fn wstring(&mut self) -> Result<String> {
        let max = self.max_count()?;
        let (_offset, actual) = self.variance(max)?;
        if actual == 0 {
            return Err(NdrError::BadString("missing terminator"));
        }
        let units = self.u16_units(actual)?;
        match units.split_last() {
            Some((0, body)) => {
                String::from_utf16(body).map_err(|_| NdrError::BadString("invalid utf-16"))
            }
            _ => Err(NdrError::BadString("missing terminator")),
        }
    }

    /// Reads a `[string] char*` referent (conformant varying array of octets, NUL counted).
    /// Returns the bytes without the terminator.
    pub fn cstring(&mut self) -> Result<Vec<u8>> {
        let max = self.max_count()?;
        let (_offset, actual) = self.variance(max)?;
        self.check_count(u64::from(actual), 1)?;
        let raw = self.take(actual as usize)?;
        match raw.split_last() {
            Some((0, body)) => Ok(body.to_vec()),
            _ => Err(NdrError::BadString("missing terminator")),
        }
    }

    /// Looks up the referent of a full pointer decoded earlier (C706 14.3.11).
    pub(crate) fn full_referent<T: Clone + 'static>(&self, id: u32) -> Option<Option<T>> {
        self.full.get(&id).map(|b| b.downcast_ref::<T>().cloned())
    }

    /// Records the referent of a full pointer.
    pub(crate) fn remember_full<T: Clone + 'static>(&mut self, id: u32, v: &T) {
        self.full.insert(id, Box::new(v.clone()));
    }
}
