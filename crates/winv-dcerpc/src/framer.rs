//! Framing PDUs out of a byte stream by `frag_length`, [C706] 12.6.3.1.

use crate::error::{Error, Result};
use crate::pdu::{Header, HEADER_LEN};

/// Default cap on one PDU: the 16-bit `frag_length` maximum.
pub const DEFAULT_MAX_PDU: usize = u16::MAX as usize;

/// How many bytes the next complete PDU takes at the start of `buf`, [C706]
/// 12.6.3.1: `Ok(None)` when more bytes are needed, an error when the header
/// is invalid or `frag_length` is below 16 or above `max_pdu`.
pub fn next_pdu_len(buf: &[u8], max_pdu: usize) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        // Reject garbage early when the version bytes are already there.
        if let Some(&v) = buf.first() {
            if v != crate::pdu::RPC_VERS {
                return Err(Error::BadVersion {
                    major: v,
                    minor: buf.get(1).copied().unwrap_or(0),
                });
            }
        }
        return Ok(None);
    }
    let h = Header::decode(buf)?;
    let len = usize::from(h.frag_length);
    if len < HEADER_LEN || len > max_pdu {
        return Err(Error::FragLength {
            frag_length: len,
            available: buf.len(),
        });
    }
    Ok((buf.len() >= len).then_some(len))
}

/// A growable receive buffer that yields whole PDUs, [C706] 12.6.3.1.
#[derive(Debug, Default)]
pub struct PduBuffer {
    buf: Vec<u8>,
    max_pdu: Option<usize>,
}

impl PduBuffer {
    /// A buffer refusing PDUs over `max_pdu` bytes.
    pub fn new(max_pdu: usize) -> Self {
        PduBuffer {
            buf: Vec::new(),
            max_pdu: Some(max_pdu),
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Removes and returns the next complete PDU, if any.
    pub fn next_pdu(&mut self) -> Result<Option<Vec<u8>>> {
        let max = self.max_pdu.unwrap_or(DEFAULT_MAX_PDU);
        match next_pdu_len(&self.buf, max)? {
            Some(n) => {
                let rest = self.buf.split_off(n);
                Ok(Some(std::mem::replace(&mut self.buf, rest)))
            }
            None => Ok(None),
        }
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
