//! Reading packet captures (pcap and pcapng) and reassembling their TCP connections.
//!
//! No I/O: everything takes the bytes of a whole capture file.
//!
//! ```text
//! file bytes --file::read_frames--> RawFrame --packet::decode--> TCP segment --Reassembler--> TcpConnection
//! ```
//!
//! Formats: libpcap (draft-ietf-opsawg-pcap, both byte orders, micro- and nanosecond
//! timestamps) and pcapng (draft-ietf-opsawg-pcapng: SHB, IDB, EPB, SPB; other blocks are
//! skipped; several sections and interfaces, each with its own link type and timestamp
//! resolution). Link types: Ethernet (1, with 802.1Q/QinQ tags), raw IP (101, 228, 229),
//! Linux cooked capture v1 (113) and v2 (276), BSD loopback (0, 108).
//!
//! TCP reassembly follows RFC 9293 sequence-number semantics: each direction's bytes are
//! placed by sequence number (modulo 2^32), the first copy of any byte wins over later
//! retransmissions or overlapping segments, out-of-order data is buffered (bounded by
//! [`MAX_PENDING_BYTES`] per direction) and missing data becomes a gap rather than a stall.

mod file;
mod packet;
mod reassembly;

use std::net::SocketAddr;

pub use file::{read_frames, RawFrame};
pub use reassembly::MAX_PENDING_BYTES;

/// A failure to read the capture file's framing (not a problem with one packet inside it):
/// draft-ietf-opsawg-pcap section 4-5, draft-ietf-opsawg-pcapng section 3-4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// Neither a pcap magic number nor a pcapng Section Header Block.
    #[error("not a pcap or pcapng file")]
    UnknownFormat,
    /// The file ends inside a header, block or record.
    #[error("capture truncated at offset {offset}")]
    Truncated {
        /// Byte offset of the incomplete record.
        offset: usize,
    },
    /// A header or block is inconsistent (bad lengths, bad byte-order magic, ...).
    #[error("corrupt capture record at offset {offset}")]
    Corrupt {
        /// Byte offset of the corrupt record.
        offset: usize,
    },
    /// More than `u32::MAX - 1` frames.
    #[error("too many frames")]
    TooManyFrames,
}

/// A capture timestamp: time since the Unix epoch (pcap section 5, pcapng section 4.3).
///
/// Frames from a pcapng Simple Packet Block, or from an interface with an unusable
/// `if_tsresol`, carry the zero timestamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: u64,
    /// Nanoseconds, `< 1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// `secs + frac / units_per_sec` seconds.
    fn from_parts(secs: u64, frac: u64, units_per_sec: u64) -> Self {
        if units_per_sec == 0 {
            return Self::default();
        }
        let nanos_total = u128::from(frac) * 1_000_000_000 / u128::from(units_per_sec);
        let carry = u64::try_from(nanos_total / 1_000_000_000).unwrap_or(u64::MAX);
        // INVARIANT: a remainder modulo 10^9 fits in u32.
        let nanos = u32::try_from(nanos_total % 1_000_000_000).unwrap_or(0);
        Self {
            secs: secs.saturating_add(carry),
            nanos,
        }
    }

    /// Shifted by a signed number of seconds (pcapng `if_tsoffset`), saturating.
    fn offset_secs(self, offset: i64) -> Self {
        let secs = if offset >= 0 {
            self.secs.saturating_add(offset.unsigned_abs())
        } else {
            self.secs.saturating_sub(offset.unsigned_abs())
        };
        Self { secs, ..self }
    }

    /// Seconds as a float, for display.
    pub fn as_secs_f64(&self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }
}

/// Which way data flowed on a TCP connection (RFC 9293 section 3.5: the client sends the SYN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the side that opened the connection (sent the SYN).
    ClientToServer,
    /// From the side that accepted it.
    ServerToClient,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Self::ClientToServer => Self::ServerToClient,
            Self::ServerToClient => Self::ClientToServer,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::ClientToServer => 0,
            Self::ServerToClient => 1,
        }
    }
}

/// A run of in-order stream bytes from one frame (RFC 9293 section 3.4 sequence space).
///
/// Chunks of a connection are listed in the order they became deliverable, which is the
/// arrival order except for out-of-order segments (delivered when the hole before them is
/// filled). Concatenating the `data` of all chunks of one direction gives that direction's
/// byte stream; `gap_before` bytes are missing just before this chunk's data.
/// A chunk with empty `data` is a pure gap marker (a hole before a FIN, never filled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Which way the bytes went.
    pub direction: Direction,
    /// 1-based number of the frame that carried the bytes (Wireshark's `frame.number`).
    pub frame: u32,
    /// That frame's capture time.
    pub timestamp: Timestamp,
    /// Offset of `data[0]` in this direction's stream, counting gap bytes
    /// (0 = first byte after the SYN, or first byte seen).
    pub offset: u64,
    /// Number of missing bytes immediately before `data`.
    pub gap_before: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// One TCP connection and its reassembled data (RFC 9293).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConnection {
    /// 0-based index in order of first appearance in the capture; matches Wireshark's
    /// `tcp.stream` for captures without port reuse.
    pub id: u32,
    /// The side that sent the SYN (or received the SYN+ACK). Without a SYN seen: the side
    /// not on a well-known port (< 1024) when exactly one side is, else the first sender.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Whether the client's SYN (or the server's SYN+ACK) was captured.
    pub syn_seen: bool,
    /// FIN seen from the client / the server.
    pub fin: [bool; 2],
    /// Any RST seen.
    pub reset: bool,
    /// Frames (1-based numbers) of this connection, including those without payload.
    pub frames: Vec<u32>,
    /// Contiguous stream data of both directions, see [`Chunk`].
    pub segments: Vec<Chunk>,
}

impl TcpConnection {
    /// Chunks of one direction.
    pub fn chunks(&self, dir: Direction) -> impl Iterator<Item = &Chunk> + '_ {
        self.segments.iter().filter(move |c| c.direction == dir)
    }

    /// The reassembled bytes of one direction, gaps omitted (see [`Self::gap_bytes`]).
    pub fn stream(&self, dir: Direction) -> Vec<u8> {
        let len = self.chunks(dir).map(|c| c.data.len()).sum();
        let mut out = Vec::with_capacity(len);
        for c in self.chunks(dir) {
            out.extend_from_slice(&c.data);
        }
        out
    }

    /// Number of payload bytes of one direction that were captured (gaps excluded).
    pub fn payload_len(&self, dir: Direction) -> u64 {
        self.chunks(dir).map(|c| c.data.len() as u64).sum()
    }

    /// Number of bytes missing from one direction.
    pub fn gap_bytes(&self, dir: Direction) -> u64 {
        self.chunks(dir)
            .fold(0u64, |acc, c| acc.saturating_add(c.gap_before))
    }

    /// The socket address of the sender for a direction.
    pub fn sender(&self, dir: Direction) -> SocketAddr {
        match dir {
            Direction::ClientToServer => self.client,
            Direction::ServerToClient => self.server,
        }
    }

    /// Whether FIN was seen in one direction.
    pub fn fin_seen(&self, dir: Direction) -> bool {
        self.fin.get(dir.index()).copied().unwrap_or(false)
    }
}

/// Why a frame was left out of reassembly (link types: tcpdump.org LINKTYPE_* registry;
/// IP: RFC 791 / RFC 8200; fragments: RFC 791 section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// The interface's link type is not one this module decodes.
    UnsupportedLinkType(u32),
    /// The link, IP or TCP header is invalid or cut short.
    MalformedPacket,
    /// An IP fragment (fragments are not reassembled).
    IpFragment,
    /// A pcapng packet block named an interface that was never described.
    UnknownInterface,
    /// Out-of-order data beyond [`MAX_PENDING_BYTES`] forced a gap.
    BufferOverflow,
}

/// A frame-level problem that did not stop the file from being read (see [`WarningKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// 1-based frame number.
    pub frame: u32,
    /// What was wrong.
    pub kind: WarningKind,
}

/// Everything reassembled from one capture file (TCP per RFC 9293 section 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Number of frames in the file.
    pub frame_count: u32,
    /// TCP connections in order of first appearance.
    pub connections: Vec<TcpConnection>,
    /// Frames that were skipped or degraded, in frame order.
    pub warnings: Vec<Warning>,
}

impl Capture {
    /// The connection between two endpoints (either order), first match.
    pub fn connection(&self, a: SocketAddr, b: SocketAddr) -> Option<&TcpConnection> {
        self.connections
            .iter()
            .find(|c| (c.client == a && c.server == b) || (c.client == b && c.server == a))
    }
}

/// Reads a whole pcap/pcapng file and reassembles every TCP connection in it.
///
/// A corrupt packet inside a well-formed file is skipped and reported in
/// [`Capture::warnings`]; only broken file framing is an error.
pub fn read_capture(file: &[u8]) -> Result<Capture, CaptureError> {
    let (frames, notes) = file::read_frames_with_notes(file)?;
    let frame_count = u32::try_from(frames.len()).map_err(|_| CaptureError::TooManyFrames)?;
    let mut warnings: Vec<Warning> = notes
        .unknown_interface
        .iter()
        .map(|&frame| Warning {
            frame,
            kind: WarningKind::UnknownInterface,
        })
        .collect();
    let unknown: std::collections::HashSet<u32> = notes.unknown_interface.iter().copied().collect();
    let mut r = reassembly::Reassembler::default();
    for f in &frames {
        if unknown.contains(&f.number) {
            continue;
        }
        match packet::decode(f.link_type, f.data) {
            Ok(packet::Decoded::Tcp(seg)) => r.push(f.number, f.timestamp, &seg),
            Ok(packet::Decoded::Other) => {}
            Err(e) => warnings.push(Warning {
                frame: f.number,
                kind: match e {
                    packet::Undecodable::LinkType(t) => WarningKind::UnsupportedLinkType(t),
                    packet::Undecodable::Malformed => WarningKind::MalformedPacket,
                    packet::Undecodable::Fragment => WarningKind::IpFragment,
                },
            }),
        }
    }
    let (connections, overflow) = r.finish();
    warnings.extend(overflow.into_iter().map(|frame| Warning {
        frame,
        kind: WarningKind::BufferOverflow,
    }));
    warnings.sort_by_key(|w| w.frame);
    if !warnings.is_empty() {
        tracing::debug!(count = warnings.len(), "capture frames skipped or degraded");
    }
    Ok(Capture {
        frame_count,
        connections,
        warnings,
    })
}

/// Fuzzing entry point: reads arbitrary bytes as a capture and checks the reassembly's
/// internal consistency. Never panics on any input unless an invariant is broken.
pub fn fuzz_capture(data: &[u8]) {
    if let Ok(cap) = read_capture(data) {
        for c in &cap.connections {
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                let mut expect = 0u64;
                for ch in c.chunks(dir) {
                    expect = expect.saturating_add(ch.gap_before);
                    assert_eq!(ch.offset, expect, "chunk offsets must be contiguous");
                    expect = expect.saturating_add(ch.data.len() as u64);
                    assert!(ch.frame >= 1 && ch.frame <= cap.frame_count);
                }
                assert!(c.payload_len(dir) <= data.len() as u64);
            }
        }
    }
}
