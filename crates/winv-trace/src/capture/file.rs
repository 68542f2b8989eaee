//! Capture-file framing: libpcap ("pcap") and pcapng records, yielding raw link-layer frames.
//!
//! The container parsing itself is done by the `pcap-parser` crate; this module adds frame
//! numbering, per-interface link types and timestamp resolution, and maps every parse
//! failure to a typed [`CaptureError`].

use pcap_parser::pcapng::{Block, EnhancedPacketBlock};
use pcap_parser::{nom, PcapError};

use super::{CaptureError, Timestamp};

/// libpcap magic numbers, as the first four bytes of the file
/// (pcap file format, draft-ietf-opsawg-pcap section 4).
const PCAP_MAGICS: [[u8; 4]; 6] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
    [0x34, 0xcd, 0xb2, 0xa1], // "modified" (Kuznetzov) format, little-endian
    [0xa1, 0xb2, 0xcd, 0x34], // "modified" format, big-endian
];

/// pcapng Section Header Block type (draft-ietf-opsawg-pcapng section 4.1).
const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// One captured frame as stored in the file (pcap record, or pcapng EPB/SPB).
///
/// See draft-ietf-opsawg-pcap section 5 and draft-ietf-opsawg-pcapng sections 4.3 and 4.4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame<'a> {
    /// 1-based frame number, counting every packet record in the file (as Wireshark numbers them).
    pub number: u32,
    /// Capture time.
    pub timestamp: Timestamp,
    /// LINKTYPE_* value of the frame's interface.
    pub link_type: u32,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub original_len: u32,
}

/// What the file walk found besides frames.
#[derive(Debug, Default)]
pub(crate) struct FileNotes {
    /// Frames whose interface id referred to no Interface Description Block.
    pub unknown_interface: Vec<u32>,
}

/// Reads every frame of a whole pcap or pcapng file.
pub fn read_frames(file: &[u8]) -> Result<Vec<RawFrame<'_>>, CaptureError> {
    read_frames_with_notes(file).map(|(frames, _)| frames)
}

pub(crate) fn read_frames_with_notes(
    file: &[u8],
) -> Result<(Vec<RawFrame<'_>>, FileNotes), CaptureError> {
    let magic = file.get(..4).ok_or(CaptureError::Truncated { offset: 0 })?;
    if magic == PCAPNG_SHB {
        read_pcapng(file)
    } else if PCAP_MAGICS.iter().any(|m| m == magic) {
        read_pcap(file).map(|f| (f, FileNotes::default()))
    } else {
        Err(CaptureError::UnknownFormat)
    }
}

/// Offset of `rest` inside `file` (both slices of the same buffer).
fn offset_of(file: &[u8], rest: &[u8]) -> usize {
    file.len().saturating_sub(rest.len())
}

fn map_err(file: &[u8], at: &[u8], e: nom::Err<PcapError<&[u8]>>) -> CaptureError {
    let offset = offset_of(file, at);
    match e {
        nom::Err::Incomplete(_) => CaptureError::Truncated { offset },
        nom::Err::Error(PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof)
        | nom::Err::Failure(PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof) => {
            CaptureError::Truncated { offset }
        }
        nom::Err::Error(_) | nom::Err::Failure(_) => CaptureError::Corrupt { offset },
    }
}

fn next_frame_number(count: usize) -> Result<u32, CaptureError> {
    u32::try_from(count)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or(CaptureError::TooManyFrames)
}

/// Legacy pcap: a 24-byte global header, then `(header, data)` records.
fn read_pcap(file: &[u8]) -> Result<Vec<RawFrame<'_>>, CaptureError> {
    let (mut rest, header) =
        pcap_parser::parse_pcap_header(file).map_err(|e| map_err(file, file, e))?;
    let nanos = header.is_nanosecond_precision();
    let link_type = header.network.0 as u32;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let parsed = if header.is_modified_format() {
            pcap_parser::parse_pcap_frame_modified(rest)
        } else if header.is_bigendian() {
            pcap_parser::parse_pcap_frame_be(rest)
        } else {
            pcap_parser::parse_pcap_frame(rest)
        };
        let (next, rec) = parsed.map_err(|e| map_err(file, rest, e))?;
        let frac_nanos = if nanos {
            rec.ts_usec
        } else {
            rec.ts_usec.saturating_mul(1000)
        };
        frames.push(RawFrame {
            number: next_frame_number(frames.len())?,
            timestamp: Timestamp::from_parts(
                u64::from(rec.ts_sec),
                u64::from(frac_nanos),
                1_000_000_000,
            ),
            link_type,
            data: rec.data,
            original_len: rec.origlen,
        });
        rest = next;
    }
    Ok(frames)
}

/// Per-interface state from an Interface Description Block (pcapng section 4.2).
struct Interface {
    link_type: u32,
    /// Timestamp units per second; `None` if `if_tsresol` is out of range.
    units_per_sec: Option<u64>,
    /// `if_tsoffset`, seconds to add.
    offset_secs: i64,
}

/// Units per second for an `if_tsresol` byte (pcapng section 4.2, option 9).
fn units_per_sec(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        2u64.checked_pow(exp)
    }
}

/// Checks a pcapng block's total length before `pcap-parser` sees it
/// (pcapng section 3.1: at least the 12 bytes of type and both lengths).
/// pcap-parser 0.17 subtracts 12 from a shorter length unchecked, which
/// panics in debug builds; found by the `trace` fuzz target.
fn check_block_length(file: &[u8], rest: &[u8], big_endian: bool) -> Result<(), CaptureError> {
    let offset = file.len() - rest.len();
    let Some(raw) = rest.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Err(CaptureError::Truncated { offset });
    };
    // A Section Header Block's own length is in the byte order its magic
    // announces; read both and accept it if either is sane.
    let lens = if rest.get(..4) == Some(&PCAPNG_SHB[..]) {
        vec![u32::from_le_bytes(raw), u32::from_be_bytes(raw)]
    } else if big_endian {
        vec![u32::from_be_bytes(raw)]
    } else {
        vec![u32::from_le_bytes(raw)]
    };
    if lens.iter().any(|&l| l >= 12) {
        Ok(())
    } else {
        Err(CaptureError::Corrupt { offset })
    }
}

fn read_pcapng(file: &[u8]) -> Result<(Vec<RawFrame<'_>>, FileNotes), CaptureError> {
    let mut rest = file;
    let mut big_endian = false;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut frames = Vec::new();
    let mut notes = FileNotes::default();
    while !rest.is_empty() {
        check_block_length(file, rest, big_endian)?;
        let parsed = if rest.get(..4) == Some(&PCAPNG_SHB[..]) {
            pcap_parser::pcapng::parse_sectionheaderblock(rest)
                .map(|(r, shb)| (r, Block::SectionHeader(shb)))
        } else if big_endian {
            pcap_parser::pcapng::parse_block_be(rest)
        } else {
            pcap_parser::pcapng::parse_block_le(rest)
        };
        let (next, block) = parsed.map_err(|e| map_err(file, rest, e))?;
        match block {
            Block::SectionHeader(shb) => {
                big_endian = shb.big_endian();
                // Interface ids are scoped to their section.
                interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let tsresol = match idb.if_tsresol() {
                    Some(Ok(v)) => v,
                    _ => 6,
                };
                let offset_secs = match idb.if_tsoffset() {
                    Some(Ok(v)) => v,
                    _ => 0,
                };
                interfaces.push(Interface {
                    link_type: u32::from(idb.linktype.0 as u16),
                    units_per_sec: units_per_sec(tsresol),
                    offset_secs,
                });
            }
            Block::EnhancedPacket(epb) => {
                let number = next_frame_number(frames.len())?;
                frames.push(epb_frame(&epb, number, &interfaces, &mut notes));
            }
            Block::SimplePacket(spb) => {
                // SPB: always interface 0, no timestamp (pcapng section 4.4).
                let number = next_frame_number(frames.len())?;
                let link_type = match interfaces.first() {
                    Some(i) => i.link_type,
                    None => {
                        notes.unknown_interface.push(number);
                        u32::MAX
                    }
                };
                // The block data is padded to 32 bits; the original length bounds the packet.
                let len = usize::try_from(spb.origlen).unwrap_or(usize::MAX);
                frames.push(RawFrame {
                    number,
                    timestamp: Timestamp::default(),
                    link_type,
                    data: spb.data.get(..len).unwrap_or(spb.data),
                    original_len: spb.origlen,
                });
            }
            // NRB, ISB, DSB, custom and unknown blocks carry no packets.
            _ => {}
        }
        // INVARIANT: every successful parse consumes at least one block header, so the loop ends.
        if next.len() >= rest.len() {
            return Err(CaptureError::Corrupt {
                offset: offset_of(file, rest),
            });
        }
        rest = next;
    }
    Ok((frames, notes))
}

fn epb_frame<'a>(
    epb: &EnhancedPacketBlock<'a>,
    number: u32,
    interfaces: &[Interface],
    notes: &mut FileNotes,
) -> RawFrame<'a> {
    let iface = usize::try_from(epb.if_id)
        .ok()
        .and_then(|i| interfaces.get(i));
    let (link_type, timestamp) = match iface {
        Some(i) => {
            let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            let ts = match i.units_per_sec {
                Some(units) if units > 0 => {
                    let t = Timestamp::from_parts(raw / units, raw % units, units);
                    t.offset_secs(i.offset_secs)
                }
                _ => Timestamp::default(),
            };
            (i.link_type, ts)
        }
        None => {
            notes.unknown_interface.push(number);
            (u32::MAX, Timestamp::default())
        }
    };
    // pcap-parser hands out the padded block data; cut it to the captured length.
    let caplen = usize::try_from(epb.caplen).unwrap_or(usize::MAX);
    let data = epb.data.get(..caplen).unwrap_or(epb.data);
    RawFrame {
        number,
        timestamp,
        link_type,
        data,
        original_len: epb.origlen,
    }
}
