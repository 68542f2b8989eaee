//! Locating an NTLMSSP message inside a security token: raw, or wrapped in
//! SPNEGO ([RFC4178] NegTokenInit / NegTokenResp, as [MS-RPCE]
//! RPC_C_AUTHN_GSS_NEGOTIATE and [MS-SPNG] 2.2 carry it).

use super::messages::NTLMSSP_SIGNATURE;

/// One DER TLV: (tag, contents, rest). Only single-byte tags and definite
/// lengths of up to 4 length bytes.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for &byte in b.get(2..2 + n)? {
            len = len.checked_mul(256)?.checked_add(usize::from(byte))?;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, b.get(hdr..end)?, b.get(end..)?))
}

/// Walks the SPNEGO structure to the mechToken ([0] NegTokenInit, field [2])
/// or responseToken ([1] NegTokenResp, field [2]).
fn spnego_token(b: &[u8], depth: u8) -> Option<&[u8]> {
    if depth > 4 {
        return None;
    }
    let (tag, contents, _) = tlv(b)?;
    match tag {
        // GSS-API InitialContextToken: [APPLICATION 0] { thisMech OID, innerToken }
        0x60 => {
            let (oid_tag, _, inner) = tlv(contents)?;
            if oid_tag != 0x06 {
                return None;
            }
            spnego_token(inner, depth + 1)
        }
        // NegotiationToken CHOICE: [0] negTokenInit / [1] negTokenResp, each a SEQUENCE.
        0xa0 | 0xa1 => {
            let (seq_tag, mut fields, _) = tlv(contents)?;
            if seq_tag != 0x30 {
                return None;
            }
            while !fields.is_empty() {
                let (ftag, fval, rest) = tlv(fields)?;
                if ftag == 0xa2 {
                    let (otag, octets, _) = tlv(fval)?;
                    return (otag == 0x04).then_some(octets);
                }
                fields = rest;
            }
            None
        }
        _ => None,
    }
}

/// Finds the NTLMSSP message in `token`: the token itself when it starts with
/// "NTLMSSP\0", the SPNEGO mechToken / responseToken when that holds one, and
/// otherwise everything from the first "NTLMSSP\0" found by scanning.
pub fn find_ntlmssp(token: &[u8]) -> Option<&[u8]> {
    if token.starts_with(NTLMSSP_SIGNATURE) {
        return Some(token);
    }
    if let Some(inner) = spnego_token(token, 0) {
        if inner.starts_with(NTLMSSP_SIGNATURE) {
            return Some(inner);
        }
    }
    let pos = token
        .windows(NTLMSSP_SIGNATURE.len())
        .position(|w| w == NTLMSSP_SIGNATURE)?;
    token.get(pos..)
}
