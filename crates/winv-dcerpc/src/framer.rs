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

/// A growable receive buffer that yields whole PDUs, [C706] 12.6.3.1. A connection keeps
/// one for its life: bytes are read straight into its spare capacity ([`PduBuffer::reader`]),
/// each PDU is copied out once, and the consumed prefix is dropped only before the next read,
/// so a read that brings several PDUs costs no copy of the ones behind them per PDU. Once
/// every byte is handed out, the buffer gives its memory back, and when it waits for the
/// rest of a PDU it keeps only the bytes that came: a connection waiting for its next answer
/// holds none, one between two fragments only the partial one (a scan has about a thousand
/// connections at once).
#[derive(Debug, Default)]
pub struct PduBuffer {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as PDUs.
    // INVARIANT: start <= buf.len().
    start: usize,
    max_pdu: Option<usize>,
}

impl PduBuffer {
    /// A buffer refusing PDUs over `max_pdu` bytes.
    pub fn new(max_pdu: usize) -> Self {
        PduBuffer {
            buf: Vec::new(),
            start: 0,
            max_pdu: Some(max_pdu),
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The buffer to read into (with tokio's `read_buf`, which appends to a `Vec`'s spare
    /// capacity): its consumed prefix dropped and room for at least `room` more bytes
    /// reserved. What a read appends is what [`PduBuffer::extend`] would have appended.
    /// The capacity stays within twice a partial PDU (at most the PDU cap) plus `room`.
    pub fn reader(&mut self, room: usize) -> &mut Vec<u8> {
        self.compact();
        self.buf.reserve(room);
        &mut self.buf
    }

    /// Gives back the room reserved by [`PduBuffer::reader`] that no read filled (a read
    /// that found nothing after all): the buffer keeps only the bytes it holds.
    pub fn shrink(&mut self) {
        self.compact();
        self.buf.shrink_to_fit();
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Removes and returns the next complete PDU, if any.
    pub fn next_pdu(&mut self) -> Result<Option<Vec<u8>>> {
        let max = self.max_pdu.unwrap_or(DEFAULT_MAX_PDU);
        let rest = &self.buf[self.start..];
        match next_pdu_len(rest, max)? {
            Some(n) => {
                // INVARIANT: next_pdu_len returned n <= rest.len().
                let pdu = rest[..n].to_vec();
                self.start += n;
                if self.start == self.buf.len() {
                    // Drained: the memory goes back; the next read reserves its room.
                    self.buf = Vec::new();
                    self.start = 0;
                }
                Ok(Some(pdu))
            }
            None => {
                // Waiting for the rest of a PDU (or for the next one): hold only the bytes
                // that came, not the room of the last read (a scan has hundreds of
                // connections between two fragments of an answer at once).
                self.shrink();
                Ok(None)
            }
        }
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::pdu::{Body, Pdu, PFC_FIRST_FRAG, PFC_LAST_FRAG};

    fn pdu(call_id: u32, stub_len: usize) -> Vec<u8> {
        Pdu {
            flags: PFC_FIRST_FRAG | PFC_LAST_FRAG,
            call_id,
            body: Body::Response(crate::pdu::Response {
                alloc_hint: 0,
                context_id: 0,
                cancel_count: 0,
                stub: vec![call_id as u8; stub_len],
            }),
            auth: None,
        }
        .encode()
        .unwrap()
    }

    /// PDUs come out whole and in order however the bytes arrive: several in one read,
    /// one split over reads, a header split in two; read through `reader` or `extend`.
    #[test]
    fn pdus_come_out_whole_however_the_bytes_arrive() {
        let pdus: Vec<Vec<u8>> = (1..=5).map(|i| pdu(i, 100 * i as usize)).collect();
        let stream: Vec<u8> = pdus.concat();
        for chunk in [1, 7, 16, 17, 250, 1000, stream.len()] {
            let mut b = PduBuffer::new(DEFAULT_MAX_PDU);
            let mut out = Vec::new();
            for (k, piece) in stream.chunks(chunk).enumerate() {
                if k % 2 == 0 {
                    b.reader(64).extend_from_slice(piece);
                } else {
                    b.extend(piece);
                }
                while let Some(p) = b.next_pdu().unwrap() {
                    out.push(p);
                }
            }
            assert_eq!(out, pdus, "chunks of {chunk}");
            assert!(b.is_empty());
            assert_eq!(b.len(), 0);
        }
    }

    /// A partial PDU stays buffered, counted, and its prefix survives the compaction of
    /// what was handed out before it; the capacity stays bounded over many reads.
    #[test]
    fn a_partial_pdu_survives_and_the_capacity_stays_bounded() {
        let a = pdu(1, 40);
        let c = pdu(2, 3000);
        let mut b = PduBuffer::new(DEFAULT_MAX_PDU);
        for _ in 0..1000 {
            let mut bytes = a.clone();
            bytes.extend_from_slice(&c[..10]);
            b.reader(16 * 1024).extend_from_slice(&bytes);
            assert_eq!(b.next_pdu().unwrap(), Some(a.clone()));
            assert_eq!(b.next_pdu().unwrap(), None);
            assert_eq!(b.len(), 10);
            b.reader(16 * 1024).extend_from_slice(&c[10..]);
            assert_eq!(b.next_pdu().unwrap(), Some(c.clone()));
            assert!(b.is_empty());
        }
        assert!(b.reader(0).capacity() <= 2 * (16 * 1024 + c.len()));
    }

    /// Drained, the buffer holds no memory (a connection waiting for an answer keeps
    /// nothing); with a partial PDU behind the last one handed out, it keeps that.
    #[test]
    fn a_drained_buffer_holds_no_memory() {
        let a = pdu(1, 40);
        let mut b = PduBuffer::new(DEFAULT_MAX_PDU);
        b.reader(16 * 1024).extend_from_slice(&a);
        assert!(b.reader(0).capacity() >= 16 * 1024);
        assert_eq!(b.next_pdu().unwrap(), Some(a.clone()));
        assert_eq!(b.reader(0).capacity(), 0);
        // Room reserved for a read that found nothing goes back.
        b.reader(16 * 1024);
        b.shrink();
        assert_eq!(b.reader(0).capacity(), 0);
        let mut two = a.clone();
        two.extend_from_slice(&a[..5]);
        b.reader(16 * 1024).extend_from_slice(&two);
        assert_eq!(b.next_pdu().unwrap(), Some(a.clone()));
        assert_eq!(b.len(), 5);
        assert_eq!(b.next_pdu().unwrap(), None);
        let held = b.reader(0).capacity();
        assert!((5..64).contains(&held), "only the partial PDU: {held}");
        // The next read gets its room again, and the PDU comes out whole.
        b.reader(16 * 1024).extend_from_slice(&a[5..]);
        assert_eq!(b.next_pdu().unwrap(), Some(a));
    }

    /// A header announcing more than the cap is refused before its bytes are awaited.
    #[test]
    fn an_oversized_pdu_is_refused() {
        let big = pdu(1, 5000);
        let mut b = PduBuffer::new(4096);
        b.extend(&big[..16]);
        assert!(matches!(b.next_pdu(), Err(Error::FragLength { .. })));
    }
}
