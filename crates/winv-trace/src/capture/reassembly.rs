//! TCP stream reassembly (RFC 9293 section 3.4, sequence numbers modulo 2^32).
//!
//! Every direction of a connection maps sequence numbers to 64-bit stream offsets from
//! a base (the SYN's sequence number + 1, or the first sequence number seen), so that
//! wrap-around is just modular arithmetic. Incoming payload is first trimmed of what was
//! already delivered, then of what is already buffered (the first copy of a byte wins),
//! and the remaining pieces are buffered; the buffer is then drained as far as it is
//! contiguous with what was delivered.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::packet::TcpSegment;
use super::{Chunk, Direction, TcpConnection, Timestamp};

/// Most out-of-order bytes buffered per direction before the reassembler gives up on the
/// hole in front of them and records it as a gap.
pub const MAX_PENDING_BYTES: usize = 8 << 20;

/// Most out-of-order pieces buffered per direction (each piece costs a map node).
const MAX_PENDING_PIECES: usize = 8192;

struct Piece {
    frame: u32,
    timestamp: Timestamp,
    data: Vec<u8>,
}

#[derive(Default)]
struct DirState {
    /// Sequence number of stream offset 0; `None` until this direction's SYN or first segment.
    base: Option<u32>,
    /// Stream offset of the next byte to deliver.
    pos: u64,
    /// Gap bytes skipped since the last delivered chunk.
    gap: u64,
    /// Buffered data keyed by stream offset.
    /// INVARIANT: pieces do not overlap and every key is `>= pos`.
    pending: BTreeMap<u64, Piece>,
    pending_bytes: usize,
    /// Stream offset just past the FIN, and the FIN's frame.
    fin: Option<(u64, u32, Timestamp)>,
}

struct Conn {
    out: TcpConnection,
    dirs: [DirState; 2],
    client_isn: Option<u32>,
}

/// Builds [`TcpConnection`]s from decoded segments in capture order.
#[derive(Default)]
pub(crate) struct Reassembler {
    conns: Vec<Conn>,
    /// Latest connection for an unordered endpoint pair.
    index: HashMap<(SocketAddr, SocketAddr), usize>,
    /// Frames whose arrival forced a gap because the buffer was full.
    overflow: Vec<u32>,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Reassembler {
    pub(crate) fn push(&mut self, frame: u32, timestamp: Timestamp, seg: &TcpSegment<'_>) {
        let k = key(seg.src, seg.dst);
        let idx = match self.index.get(&k).copied() {
            Some(i) if !self.is_new_incarnation(i, seg) => i,
            _ => {
                let i = self.conns.len();
                self.conns.push(new_conn(i, seg));
                self.index.insert(k, i);
                i
            }
        };
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        let dir = if seg.src == conn.out.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        conn.out.frames.push(frame);
        if seg.syn {
            conn.out.syn_seen = true;
            if dir == Direction::ClientToServer && !seg.ack && conn.client_isn.is_none() {
                conn.client_isn = Some(seg.seq);
            }
        }
        if seg.rst {
            conn.out.reset = true;
            // RST payload is diagnostic text, not stream data (RFC 9293 section 3.5.3).
            return;
        }
        let Conn { out, dirs, .. } = conn;
        let Some(ds) = dirs.get_mut(dir.index()) else {
            return;
        };
        // SYN occupies one sequence number; its data (if any) follows it.
        let data_seq = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let base = *ds.base.get_or_insert(data_seq);
        // Signed distance from the next expected byte, modulo 2^32.
        let expected = base.wrapping_add(ds.pos as u32);
        let delta = i64::from(data_seq.wrapping_sub(expected) as i32);
        let len = seg.payload.len() as u64;
        // Stream offset of payload[0]; negative when it starts before offset 0.
        let start = i128::from(ds.pos) + i128::from(delta);
        if seg.fin {
            if let Ok(end) = u64::try_from(start + i128::from(len)) {
                if ds.fin.is_none() {
                    ds.fin = Some((end, frame, timestamp));
                }
            }
            if let Some(f) = out.fin.get_mut(dir.index()) {
                *f = true;
            }
        }
        if seg.payload.is_empty() {
            return;
        }
        // Drop what was already delivered (retransmission, overlap, keep-alive).
        let skip = i128::from(ds.pos) - start;
        let (start, data) = if skip > 0 {
            let Ok(skip) = usize::try_from(skip) else {
                return;
            };
            match seg.payload.get(skip..) {
                Some(rest) if !rest.is_empty() => (ds.pos, rest),
                _ => return,
            }
        } else {
            // INVARIANT: skip <= 0 means start >= pos >= 0.
            (u64::try_from(start).unwrap_or(ds.pos), seg.payload)
        };
        insert_uncovered(ds, start, data, frame, timestamp);
        drain(ds, out, dir);
        if ds.pending_bytes > MAX_PENDING_BYTES || ds.pending.len() > MAX_PENDING_PIECES {
            self.overflow.push(frame);
            while ds.pending_bytes > MAX_PENDING_BYTES / 2
                || ds.pending.len() > MAX_PENDING_PIECES / 2
            {
                if !skip_to_first(ds, out, dir) {
                    break;
                }
            }
        }
    }

    /// A SYN on a closed connection with a new initial sequence number starts a new one
    /// (port reuse).
    fn is_new_incarnation(&self, i: usize, seg: &TcpSegment<'_>) -> bool {
        let Some(c) = self.conns.get(i) else {
            return true;
        };
        let closed = c.out.reset || (c.out.fin[0] && c.out.fin[1]);
        seg.syn && !seg.ack && closed && c.client_isn != Some(seg.seq)
    }

    /// Flushes what is still buffered (as gaps) and returns the connections, plus the
    /// frames that overflowed a buffer.
    pub(crate) fn finish(self) -> (Vec<TcpConnection>, Vec<u32>) {
        let mut out = Vec::with_capacity(self.conns.len());
        for mut c in self.conns {
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                let Some(ds) = c.dirs.get_mut(dir.index()) else {
                    continue;
                };
                while skip_to_first(ds, &mut c.out, dir) {}
                if let Some((end, frame, timestamp)) = ds.fin {
                    if end > ds.pos {
                        let gap = ds.gap.saturating_add(end - ds.pos);
                        c.out.segments.push(Chunk {
                            direction: dir,
                            frame,
                            timestamp,
                            offset: end,
                            gap_before: gap,
                            data: Vec::new(),
                        });
                        ds.pos = end;
                        ds.gap = 0;
                    }
                }
            }
            out.push(c.out);
        }
        (out, self.overflow)
    }
}

fn new_conn(id: usize, seg: &TcpSegment<'_>) -> Conn {
    // Without a SYN: a well-known port (< 1024) facing an unprivileged one marks the
    // server; otherwise the first sender is taken to be the client (request/response
    // protocols such as DCE/RPC talk first from the client, and both ends of an RPC
    // connection to a dynamic endpoint use high ports).
    let src_is_client = if seg.syn {
        !seg.ack
    } else {
        !(seg.src.port() < 1024 && seg.dst.port() >= 1024)
    };
    let (client, server) = if src_is_client {
        (seg.src, seg.dst)
    } else {
        (seg.dst, seg.src)
    };
    Conn {
        out: TcpConnection {
            id: u32::try_from(id).unwrap_or(u32::MAX),
            client,
            server,
            syn_seen: false,
            fin: [false; 2],
            reset: false,
            frames: Vec::new(),
            segments: Vec::new(),
        },
        dirs: [DirState::default(), DirState::default()],
        client_isn: None,
    }
}

/// Buffers the parts of `data` (at stream offset `start >= pos`) not already buffered.
fn insert_uncovered(ds: &mut DirState, start: u64, data: &[u8], frame: u32, timestamp: Timestamp) {
    let end = start.saturating_add(data.len() as u64);
    // Buffered intervals that may overlap [start, end): the one starting at or before
    // `start`, and those starting inside.
    let mut covered: Vec<(u64, u64)> = Vec::new();
    if let Some((&k, p)) = ds.pending.range(..=start).next_back() {
        covered.push((k, k.saturating_add(p.data.len() as u64)));
    }
    for (&k, p) in ds.pending.range(start.saturating_add(1)..end) {
        covered.push((k, k.saturating_add(p.data.len() as u64)));
    }
    let mut pieces: Vec<(u64, u64)> = Vec::new();
    let mut cursor = start;
    for (cs, ce) in covered {
        if cs > cursor {
            pieces.push((cursor, cs.min(end)));
        }
        cursor = cursor.max(ce);
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        pieces.push((cursor, end));
    }
    for (ps, pe) in pieces {
        let (Ok(a), Ok(b)) = (usize::try_from(ps - start), usize::try_from(pe - start)) else {
            continue;
        };
        let Some(bytes) = data.get(a..b) else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        ds.pending_bytes = ds.pending_bytes.saturating_add(bytes.len());
        ds.pending.insert(
            ps,
            Piece {
                frame,
                timestamp,
                data: bytes.to_vec(),
            },
        );
    }
}

/// Delivers buffered pieces that continue the stream.
fn drain(ds: &mut DirState, out: &mut TcpConnection, dir: Direction) {
    while let Some(entry) = ds.pending.first_entry() {
        if *entry.key() != ds.pos {
            break;
        }
        let piece = entry.remove();
        ds.pending_bytes = ds.pending_bytes.saturating_sub(piece.data.len());
        let offset = ds.pos;
        ds.pos = ds.pos.saturating_add(piece.data.len() as u64);
        let gap_before = std::mem::take(&mut ds.gap);
        emit(out, dir, offset, gap_before, piece);
    }
}

/// Declares the hole before the first buffered piece a gap and drains; false if nothing
/// is buffered.
fn skip_to_first(ds: &mut DirState, out: &mut TcpConnection, dir: Direction) -> bool {
    let Some(&first) = ds.pending.keys().next() else {
        return false;
    };
    // INVARIANT: buffered keys are >= pos.
    ds.gap = ds.gap.saturating_add(first.saturating_sub(ds.pos));
    ds.pos = first;
    drain(ds, out, dir);
    true
}

fn emit(out: &mut TcpConnection, dir: Direction, offset: u64, gap_before: u64, piece: Piece) {
    if gap_before == 0 {
        if let Some(last) = out.segments.last_mut() {
            if last.direction == dir
                && last.frame == piece.frame
                && last.offset.saturating_add(last.data.len() as u64) == offset
            {
                last.data.extend_from_slice(&piece.data);
                return;
            }
        }
    }
    out.segments.push(Chunk {
        direction: dir,
        frame: piece.frame,
        timestamp: piece.timestamp,
        offset,
        gap_before,
        data: piece.data,
    });
}
