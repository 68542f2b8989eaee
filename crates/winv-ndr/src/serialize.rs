//! NDR type serialization version 1 ([MS-RPCE] 2.2.6), as used for DCOM activation
//! properties ([MS-DCOM] 2.2.22).

use crate::error::{NdrError, Result};
use crate::writer::count_u32;
use crate::{NdrDecode, NdrEncode, NdrReader, NdrWriter};

/// Length of the common type header plus the private header.
pub const TYPE1_HEADERS_LEN: usize = 16;

/// The common type header for the serialization stream ([MS-RPCE] 2.2.6.1): version 1,
/// little-endian (0x10), CommonHeaderLength 8, filler 0xcccccccc.
pub const TYPE1_COMMON_HEADER: [u8; 8] = [0x01, 0x10, 0x08, 0x00, 0xcc, 0xcc, 0xcc, 0xcc];

/// Encodes one top-level type with type serialization version 1: the common type header
/// ([MS-RPCE] 2.2.6.1), the private header ([MS-RPCE] 2.2.6.2: ObjectBufferLength, a multiple
/// of 8, and a zero filler), then the NDR representation of `value` (flat part and deferred
/// referents, with its own referent ids from 0x00020000) padded with zeros to a multiple of 8.
pub fn encode_type1<T: NdrEncode + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut body = NdrWriter::new();
    body.write(value)?;
    body.align(8);
    let body = body.into_bytes();
    let len = count_u32(body.len(), "object buffer")?;
    let mut out = Vec::with_capacity(TYPE1_HEADERS_LEN + body.len());
    out.extend_from_slice(&TYPE1_COMMON_HEADER);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks the common and private headers ([MS-RPCE] 2.2.6.1, 2.2.6.2) at the start of `data`
/// and returns the object buffer (ObjectBufferLength bytes following the headers).
/// The fillers are ignored whatever their value.
pub fn type1_object_buffer(data: &[u8]) -> Result<&[u8]> {
    let mut r = NdrReader::new(data);
    let version = r.u8()?;
    let endianness = r.u8()?;
    let header_len = r.u16()?;
    let _filler = r.u32()?;
    if version != 1 {
        return Err(NdrError::BadHeader("version not 1"));
    }
    if endianness != 0x10 {
        return Err(NdrError::BadHeader("not little-endian"));
    }
    if header_len != 8 {
        return Err(NdrError::BadHeader("common header length not 8"));
    }
    let len = r.u32()?;
    let _filler = r.u32()?;
    // [MS-RPCE] 2.2.6.2 says ObjectBufferLength is a multiple of 8, but impacket
    // sends unpadded lengths and Windows accepts them: so do we (the encoder pads).
    r.check_count(u64::from(len), 1)?;
    r.bytes(len as usize)
}

/// Decodes one top-level type serialized with version 1 (the mirror of [`encode_type1`]).
/// Returns the value and the number of bytes consumed (headers plus ObjectBufferLength), so
/// that a sequence of serialized types (the activation properties of [MS-DCOM] 2.2.22) can
/// be walked. Fails if the object buffer holds more than 7 bytes after the value.
pub fn decode_type1<T: NdrDecode>(data: &[u8]) -> Result<(T, usize)> {
    let body = type1_object_buffer(data)?;
    let mut r = NdrReader::new(body);
    let v = r.read::<T>()?;
    if r.remaining() >= 8 {
        return Err(NdrError::TrailingBytes(r.remaining()));
    }
    // INVARIANT: body.len() <= data.len() - 16, so this cannot overflow.
    Ok((v, TYPE1_HEADERS_LEN + body.len()))
}
