//! Fragmentation of request/response stubs to the negotiated fragment size and
//! reassembly of fragmented calls, [C706] 12.6.3.1 (`PFC_FIRST_FRAG`,
//! `PFC_LAST_FRAG`, `alloc_hint`) and [MS-RPCE] 3.3.1.5.2 (each fragment is
//! protected on its own).

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::pdu::{Body, Pdu, Request, Response, PFC_FIRST_FRAG, PFC_LAST_FRAG, SEC_TRAILER_LEN};
use crate::secure::{encode_protected, Protection};

/// Default cap on a reassembled request stub (a server's view, for the simulator): 64 MiB.
pub const DEFAULT_MAX_STUB: usize = 64 << 20;

/// Default cap on one reassembled response stub of a client: 4 MiB.
///
/// The largest legitimate response to what winventory asks is one smart-enumerator or
/// `IEnumWbemClassObject::Next` batch: 64 objects (the client's default batch) and, once,
/// their class. A class part is at most a few tens of KiB (Win32_Process with its
/// qualifiers is about 20 KiB); an instance is 1-4 KiB for the inventory classes and at
/// worst about 64 KiB (a Win32_Process whose `CommandLine` is at CreateProcess' 32,767
/// UTF-16 unit limit). 64 x 64 KiB = 4 MiB. A StdRegProv answer (the subkeys of
/// `Uninstall`, a value) is far smaller. A server that sends more is refused with
/// [`Error::TooLarge`]: endless fragments hold 4 MiB, not 64, per connection.
/// `ClientConfig::max_response_stub` changes it (with a larger `batch_size`, say).
pub const DEFAULT_MAX_RESPONSE_STUB: usize = 4 << 20;

/// The largest stub part one fragment can carry: header + stub + pad +
/// trailer + signature must fit in `max_frag`. With a trailer the part is a
/// multiple of 16 so that padding never pushes a fragment over the limit.
pub fn max_stub_per_fragment(
    max_frag: u16,
    header_len: usize,
    prot: Option<&Protection<'_>>,
) -> Result<usize> {
    let max = usize::from(max_frag);
    let part = match prot.filter(|p| p.level.signs()) {
        Some(p) => max
            .checked_sub(header_len + SEC_TRAILER_LEN + p.ctx.signature_len())
            .map(|n| n & !15),
        None => max.checked_sub(header_len).map(|n| n & !7),
    };
    match part {
        Some(n) if n > 0 => Ok(n),
        _ => Err(Error::TooLarge {
            what: "pdu overhead for max_xmit_frag",
            len: max,
        }),
    }
}

fn fragment(
    call_id: u32,
    stub: &[u8],
    header_len: usize,
    max_frag: u16,
    mut prot: Option<&mut Protection<'_>>,
    make: impl Fn(&[u8], u32) -> Body,
) -> Result<Vec<Vec<u8>>> {
    let part = max_stub_per_fragment(max_frag, header_len, prot.as_deref())?;
    let mut out = Vec::with_capacity(stub.len() / part + 1);
    let mut offset = 0;
    loop {
        let end = stub.len().min(offset + part);
        let chunk = stub.get(offset..end).unwrap_or(&[]);
        let mut flags = 0;
        if offset == 0 {
            flags |= PFC_FIRST_FRAG;
        }
        if end == stub.len() {
            flags |= PFC_LAST_FRAG;
        }
        let hint = u32::try_from(stub.len() - offset).unwrap_or(u32::MAX);
        let pdu = Pdu {
            flags,
            call_id,
            body: make(chunk, hint),
            auth: None,
        };
        out.push(encode_protected(&pdu, prot.as_deref_mut())?);
        if end == stub.len() {
            return Ok(out);
        }
        offset = end;
    }
}

/// Splits a request stub into fragments of at most `max_frag` octets, each
/// protected on its own when `prot` signs, [C706] 12.6.4.9.
pub fn fragment_request(
    call_id: u32,
    context_id: u16,
    opnum: u16,
    object: Option<Uuid>,
    stub: &[u8],
    max_frag: u16,
    prot: Option<&mut Protection<'_>>,
) -> Result<Vec<Vec<u8>>> {
    let header_len = if object.is_some() { 40 } else { 24 };
    fragment(call_id, stub, header_len, max_frag, prot, |chunk, hint| {
        Body::Request(Request {
            alloc_hint: hint,
            context_id,
            opnum,
            object,
            stub: chunk.to_vec(),
        })
    })
}

/// Splits a response stub into fragments (the server side of
/// [`fragment_request`]), [C706] 12.6.4.10.
pub fn fragment_response(
    call_id: u32,
    context_id: u16,
    stub: &[u8],
    max_frag: u16,
    prot: Option<&mut Protection<'_>>,
) -> Result<Vec<Vec<u8>>> {
    fragment(call_id, stub, 24, max_frag, prot, |chunk, hint| {
        Body::Response(Response {
            alloc_hint: hint,
            context_id,
            cancel_count: 0,
            stub: chunk.to_vec(),
        })
    })
}

/// Reassembles the fragments of one call at a time, [C706] 12.6.3.1: in
/// order, no interleaving of calls, a bounded total size.
#[derive(Debug)]
pub struct Reassembler {
    max_stub: usize,
    current: Option<(u32, Vec<u8>)>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_STUB)
    }
}

impl Reassembler {
    /// A reassembler refusing stubs larger than `max_stub` octets.
    pub fn new(max_stub: usize) -> Self {
        Reassembler {
            max_stub,
            current: None,
        }
    }

    /// The call being reassembled, if any.
    pub fn in_progress(&self) -> Option<u32> {
        self.current.as_ref().map(|(c, _)| *c)
    }

    /// Drops a partially reassembled call.
    pub fn abort(&mut self, call_id: u32) {
        if self.in_progress() == Some(call_id) {
            self.current = None;
        }
    }

    /// Adds one fragment's stub; returns the whole stub after the last one.
    pub fn push(&mut self, call_id: u32, flags: u8, stub: &[u8]) -> Result<Option<Vec<u8>>> {
        let first = flags & PFC_FIRST_FRAG != 0;
        let last = flags & PFC_LAST_FRAG != 0;
        match &mut self.current {
            Some((expected, _)) if *expected != call_id => {
                return Err(Error::InterleavedCall {
                    expected: *expected,
                    got: call_id,
                })
            }
            Some(_) if first => {
                self.current = None;
                return Err(Error::DuplicateFirstFragment(call_id));
            }
            None if !first => return Err(Error::MissingFirstFragment(call_id)),
            _ => {}
        }
        let (_, buf) = self.current.get_or_insert_with(|| (call_id, Vec::new()));
        let total = buf.len().saturating_add(stub.len());
        if total > self.max_stub {
            self.current = None;
            return Err(Error::TooLarge {
                what: "reassembled stub",
                len: total,
            });
        }
        buf.extend_from_slice(stub);
        if last {
            Ok(self.current.take().map(|(_, b)| b))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// Endless fragments (never `PFC_LAST_FRAG`) are refused once they pass the client's
    /// default cap, and the partial stub is dropped.
    #[test]
    fn endless_fragments_stop_at_the_response_cap() {
        let cfg = crate::ClientConfig::default();
        assert_eq!(cfg.max_response_stub, DEFAULT_MAX_RESPONSE_STUB);
        const { assert!(DEFAULT_MAX_RESPONSE_STUB <= 4 << 20) };
        let mut r = Reassembler::new(cfg.max_response_stub);
        let frag = vec![0u8; 4096];
        let mut flags = PFC_FIRST_FRAG;
        let mut held = 0usize;
        let err = loop {
            match r.push(7, flags, &frag) {
                Ok(None) => held += frag.len(),
                Ok(Some(_)) => panic!("no last fragment was sent"),
                Err(e) => break e,
            }
            flags = 0;
            assert!(held <= DEFAULT_MAX_RESPONSE_STUB, "held {held} octets");
        };
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        assert_eq!(held, DEFAULT_MAX_RESPONSE_STUB);
        assert_eq!(r.in_progress(), None, "the partial stub is dropped");
    }
}
