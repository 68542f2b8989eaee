//! NDR 2.0 transfer syntax, little-endian ([MS-RPCE] 2.2.5, C706 chapter 14), and NDR type
//! serialization version 1 ([MS-RPCE] 2.2.6). Encoding and decoding, no I/O.
//!
//! # Model
//!
//! - [`NdrWriter`] encodes into a `Vec<u8>`; [`NdrReader`] decodes from a `&[u8]`. Both align
//!   relative to the start of the NDR stream (the stub data of one request or response).
//!   Primitives align themselves (`u16` to 2, `u32` to 4, `u64` to 8, GUIDs to 4).
//! - [`NdrEncode`] / [`NdrDecode`] have two phases so that the referents of pointers embedded
//!   in a structure or array come after it (C706 14.3.12.3): `*_flat` handles the value in
//!   place (a pointer is just its referent id) and `*_deferred` the referents, in member
//!   order, each complete (depth first, as Windows does). Structures without pointers only
//!   implement the flat phase. [`NdrWriter::write`] / [`NdrReader::read`] run both phases for
//!   a top-level value: call them once per parameter, in IDL order.
//! - Pointers: `Option<T>` is a `[unique]` pointer (referent ids 0x00020000, 0x00020004, ...;
//!   null is 0), [`Ref<T>`] an embedded `[ref]` pointer (a top-level `[ref]` parameter has no
//!   wire representation: write the referent directly), [`Full<T>`] a full pointer (the same
//!   `Arc` gets the same referent id and is sent once).
//! - Arrays: `Vec<T>` is a conformant array, `[T; N]` a fixed array, [`VaryingArray`] and
//!   [`ConformantVaryingArray`] the varying kinds. For a conformant structure, write the
//!   hoisted conformance first with [`NdrWriter::max_count`] and the trailing array with
//!   [`NdrWriter::elements`] (and the mirrors on [`NdrReader`]).
//! - Ready types: [`WString`] (`[string, unique] wchar_t*`), [`WcharString`] (its referent),
//!   [`CharString`], [`ContextHandle`], [`RpcUnicodeString`], GUIDs as [`uuid::Uuid`].
//! - [`encode_type1`] / [`decode_type1`] wrap one top-level type in the type serialization
//!   version 1 headers, as DCOM activation properties need ([MS-DCOM] 2.2.22).
//!
//! Decoders are total: malformed input gives an [`NdrError`], counts are checked against the
//! remaining input before allocating, and padding bytes are accepted whatever their value.
//!
//! # Example: a hand-written stub structure
//!
//! ```
//! use winv_ndr::{NdrDecode, NdrEncode, NdrReader, NdrWriter, Result, WString};
//!
//! /// typedef struct { DWORD id; [string, unique] wchar_t* name; } ITEM;
//! #[derive(Debug, Default, PartialEq)]
//! struct Item {
//!     id: u32,
//!     name: WString,
//! }
//!
//! impl NdrEncode for Item {
//!     fn encode_flat(&self, w: &mut NdrWriter) -> Result<()> {
//!         w.u32(self.id);
//!         self.name.encode_flat(w)
//!     }
//!     fn encode_deferred(&self, w: &mut NdrWriter) -> Result<()> {
//!         self.name.encode_deferred(w)
//!     }
//! }
//!
//! impl NdrDecode for Item {
//!     fn decode_flat(r: &mut NdrReader<'_>) -> Result<Self> {
//!         Ok(Item { id: r.u32()?, name: WString::decode_flat(r)? })
//!     }
//!     fn decode_deferred(&mut self, r: &mut NdrReader<'_>) -> Result<()> {
//!         self.name.decode_deferred(r)
//!     }
//! }
//!
//! # fn main() -> Result<()> {
//! let item = Item { id: 7, name: WString::from("a") };
//! let mut w = NdrWriter::new();
//! w.write(&item)?;
//! let bytes = w.into_bytes();
//! assert_eq!(
//!     bytes,
//!     [
//!         7, 0, 0, 0, // id
//!         0x00, 0x00, 0x02, 0x00, // referent id of name
//!         2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, // max_count, offset, actual_count
//!         b'a', 0, 0, 0, // "a" and the NUL terminator, counted
//!     ]
//! );
//! let mut r = NdrReader::new(&bytes);
//! assert_eq!(r.read::<Item>()?, item);
//! r.finish()?;
//! # Ok(())
//! # }
//! ```

mod codec;
mod error;
mod fuzz;
mod reader;
mod serialize;
mod types;
mod writer;

pub use codec::{Full, NdrDecode, NdrEncode, Ref};
pub use error::{NdrError, Result};
pub use fuzz::fuzz_decode_all;
pub use reader::NdrReader;
pub use serialize::{
    decode_type1, encode_type1, type1_object_buffer, TYPE1_COMMON_HEADER, TYPE1_HEADERS_LEN,
};
pub use types::{
    CharString, ConformantVaryingArray, ContextHandle, RpcUnicodeString, VaryingArray, WString,
    WcharString,
};
pub use uuid::{self, Uuid};
pub use writer::{NdrWriter, FIRST_REFERENT_ID};

/// A GUID ([MS-DTYP] 2.3.4), encoded with little-endian fields.
pub type Guid = Uuid;
