//! The NDR encoder ([MS-RPCE] 2.2.5, C706 chapter 14).

use crate::error::{NdrError, Result};
use crate::NdrEncode;
use std::any::Any;
use std::collections::HashMap;
use uuid::Uuid;

/// First referent id for unique, full and embedded ref pointers. C706 14.3.10 only requires a
/// non-zero value; Windows (and this writer) use 0x00020000, then +4 for every further pointer.
pub const FIRST_REFERENT_ID: u32 = 0x0002_0000;

/// Converts a length to an NDR 32-bit count, or fails with [`NdrError::TooLarge`].
pub(crate) fn count_u32(n: usize, what: &'static str) -> Result<u32> {
    u32::try_from(n).map_err(|_| NdrError::TooLarge(what))
}

/// An NDR 2.0 little-endian encoder over an owned buffer (C706 14.2, [MS-RPCE] 2.2.5).
///
/// Alignment is relative to the start of the buffer, which must be the start of the NDR stream
/// (the stub data of a request or response, or the body of a type serialization).
///
/// Embedded pointer referents are deferred through the two phases of [`NdrEncode`]
/// (`encode_flat` then `encode_deferred`); [`NdrWriter::write`] runs both for a top-level value.
pub struct NdrWriter {
    buf: Vec<u8>,
    next_referent: u32,
    /// Full pointers seen so far, by the address of their shared referent (C706 14.3.11).
    /// INVARIANT: each entry keeps a clone of the `Arc` alive, so no address is reused while
    /// this writer exists.
    full: HashMap<usize, FullEntry>,
}

struct FullEntry {
    id: u32,
    written: bool,
    _keep_alive: Box<dyn Any>,
}

impl std::fmt::Debug for NdrWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdrWriter")
            .field("len", &self.buf.len())
            .field("next_referent", &self.next_referent)
            .field("full_pointers", &self.full.len())
            .finish()
    }
}

impl Default for NdrWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl NdrWriter {
    /// A new, empty encoder whose first referent id will be 0x00020000.
    pub fn new() -> Self {
        Self {
            // Most stubs are a few hundred octets: one allocation for them, not a growth
            // step per field.
            buf: Vec::with_capacity(256),
            next_referent: FIRST_REFERENT_ID,
            full: HashMap::new(),
        }
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes encoded so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes encoded so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing has been encoded.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Pads with zero bytes up to a multiple of `n` (1, 2, 4 or 8).
    pub fn align(&mut self, n: usize) {
        if n > 1 {
            let rem = self.buf.len() % n;
            if rem != 0 {
                self.buf.resize(self.buf.len() + (n - rem), 0);
            }
        }
    }

    /// Writes raw bytes, without alignment.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Writes a `u8` (`small`, `byte`, `char`).
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Writes an `i8`.
    pub fn i8(&mut self, v: i8) {
        self.u8(v as u8);
    }
    /// Aligns to 2 and writes a `u16` (`short`, `wchar_t`).
    pub fn u16(&mut self, v: u16) {
        self.align(2);
        self.bytes(&v.to_le_bytes());
    }
    /// Aligns to 2 and writes an `i16`.
    pub fn i16(&mut self, v: i16) {
        self.u16(v as u16);
    }
    /// Aligns to 4 and writes a `u32` (`long`, `DWORD`).
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.bytes(&v.to_le_bytes());
    }
    /// Aligns to 4 and writes an `i32`.
    pub fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }
    /// Aligns to 8 and writes a `u64` (`hyper`).
    pub fn u64(&mut self, v: u64) {
        self.align(8);
        self.bytes(&v.to_le_bytes());
    }
    /// Aligns to 8 and writes an `i64`.
    pub fn i64(&mut self, v: i64) {
        self.u64(v as u64);
    }
    /// Aligns to 4 and writes an IEEE `float`.
    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }
    /// Aligns to 8 and writes an IEEE `double`.
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// Aligns to 4 and writes a GUID in its little-endian-fields layout ([MS-DTYP] 2.3.4.2).
    pub fn uuid(&mut self, u: &Uuid) {
        self.align(4);
        self.bytes(&u.to_bytes_le());
    }

    /// Allocates the next referent id (0x00020000, 0x00020004, ...) without writing it.
    pub fn next_referent_id(&mut self) -> u32 {
        let id = self.next_referent;
        self.next_referent = self.next_referent.wrapping_add(4);
        id
    }

    /// Writes a unique or full pointer's representation: 0 when `present` is false, else a fresh
    /// referent id (C706 14.3.10, 14.3.11). Returns `present`, so the caller knows whether the
    /// referent must follow (now for a top-level pointer, deferred for an embedded one).
    pub fn pointer(&mut self, present: bool) -> bool {
        let id = if present { self.next_referent_id() } else { 0 };
        self.u32(id);
        present
    }

    /// Encodes a complete top-level value: its flat part, then the referents of its embedded
    /// pointers ([`NdrEncode::encode_flat`] then [`NdrEncode::encode_deferred`]).
    /// Use this for each parameter of a call, in order.
    pub fn write<T: NdrEncode + ?Sized>(&mut self, v: &T) -> Result<()> {
        v.encode_flat(self)?;
        v.encode_deferred(self)
    }

    /// Writes a conformance count (`max_count`, aligned to 4). Use it first for a conformant
    /// structure, whose conformance is hoisted to the start of the structure (C706 14.3.7.1).
    pub fn max_count(&mut self, n: usize) -> Result<()> {
        let n = count_u32(n, "max_count")?;
        self.u32(n);
        Ok(())
    }

    /// Writes a variance pair (`offset`, `actual_count`, aligned to 4; C706 14.3.3.4).
    pub fn variance(&mut self, offset: u32, actual_count: usize) -> Result<()> {
        let n = count_u32(actual_count, "actual_count")?;
        self.u32(offset);
        self.u32(n);
        Ok(())
    }

    /// Writes the flat part of each element (no counts).
    pub fn elements<T: NdrEncode>(&mut self, items: &[T]) -> Result<()> {
        for it in items {
            it.encode_flat(self)?;
        }
        Ok(())
    }

    /// Writes the deferred referents of each element, in element order.
    pub fn elements_deferred<T: NdrEncode>(&mut self, items: &[T]) -> Result<()> {
        for it in items {
            it.encode_deferred(self)?;
        }
        Ok(())
    }

    /// Writes the flat part of a conformant array: max_count then the elements (C706 14.3.3.2).
    /// The elements' deferred referents must follow via [`NdrWriter::elements_deferred`].
    pub fn conformant_array<T: NdrEncode>(&mut self, items: &[T]) -> Result<()> {
        self.max_count(items.len())?;
        self.elements(items)
    }

    /// Writes the flat part of a conformant varying array with offset 0:
    /// max_count, offset, actual_count then the elements (C706 14.3.3.4).
    pub fn conformant_varying_array<T: NdrEncode>(
        &mut self,
        max_count: usize,
        items: &[T],
    ) -> Result<()> {
        if items.len() > max_count {
            return Err(NdrError::TooLarge("actual_count above max_count"));
        }
        self.max_count(max_count)?;
        self.variance(0, items.len())?;
        self.elements(items)
    }

    /// Writes a `[string] wchar_t*` referent: a conformant varying array of UTF-16 units with the
    /// terminating NUL counted in max_count and actual_count (C706 14.3.4, [MS-RPCE] 2.2.5.3.4.2).
    pub fn wstring(&mut self, s: &str) -> Result<()> {
        let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
        self.max_count(units.len())?;
        self.variance(0, units.len())?;
        for u in units {
            self.u16(u);
        }
        Ok(())
    }

    /// Writes a `[string] char*` referent: a conformant varying array of octets with the
    /// terminating NUL counted (C706 14.3.4).
    pub fn cstring(&mut self, s: &[u8]) -> Result<()> {
        let n = s.len().checked_add(1).ok_or(NdrError::TooLarge("string"))?;
        self.max_count(n)?;
        self.variance(0, n)?;
        self.bytes(s);
        self.u8(0);
        Ok(())
    }

    /// Referent id of a full pointer to `referent`: the same `Arc` always gets the same id.
    pub(crate) fn full_pointer_id<T: 'static>(&mut self, referent: &std::sync::Arc<T>) -> u32 {
        let addr = std::sync::Arc::as_ptr(referent) as *const () as usize;
        if let Some(e) = self.full.get(&addr) {
            return e.id;
        }
        let id = self.next_referent_id();
        self.full.insert(
            addr,
            FullEntry {
                id,
                written: false,
                _keep_alive: Box::new(std::sync::Arc::clone(referent)),
            },
        );
        id
    }

    /// True the first time it is called for a full pointer's referent: the referent is then
    /// to be written; later calls return false (the referent is already in the stream).
    pub(crate) fn full_pointer_take_first<T: 'static>(
        &mut self,
        referent: &std::sync::Arc<T>,
    ) -> bool {
        let addr = std::sync::Arc::as_ptr(referent) as *const () as usize;
        match self.full.get_mut(&addr) {
            Some(e) if !e.written => {
                e.written = true;
                true
            }
            Some(_) => false,
            // Not announced by a flat part first: write it (cannot happen through `Full`).
            None => true,
        }
    }
}
