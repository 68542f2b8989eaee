//! Tests of `winv_trace::capture` on synthetic captures (built here) and on the real
//! captures in `../shared/fixtures/pcap/`, cross-checked with tshark when it is installed.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::SocketAddr;
use std::path::PathBuf;

use etherparse::PacketBuilder;
use proptest::prelude::*;
use winv_trace::capture::{
    fuzz_capture, read_capture, read_frames, CaptureError, Direction, WarningKind,
};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

// ---------------------------------------------------------------- capture builders

#[derive(Clone, Copy)]
struct Seg<'a> {
    from_client: bool,
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    payload: &'a [u8],
}

fn seg(from_client: bool, seq: u32, payload: &[u8]) -> Seg<'_> {
    Seg {
        from_client,
        seq,
        syn: false,
        ack: true,
        fin: false,
        rst: false,
        payload,
    }
}

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 50000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 135);

/// An Ethernet/IPv4/TCP frame for a segment between CLIENT and SERVER.
fn ether_frame(s: &Seg<'_>) -> Vec<u8> {
    let (src, dst) = if s.from_client {
        (CLIENT, SERVER)
    } else {
        (SERVER, CLIENT)
    };
    let mut b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, s.seq, 8192);
    if s.syn {
        b = b.syn();
    }
    if s.ack {
        b = b.ack(1);
    }
    if s.fin {
        b = b.fin();
    }
    if s.rst {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(s.payload.len()));
    b.write(&mut out, s.payload).expect("write packet");
    out
}

/// A little-endian microsecond pcap file with link type `link`.
fn pcap_file(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&link.to_le_bytes());
    for (i, d) in frames.iter().enumerate() {
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&250_000u32.to_le_bytes());
        f.extend_from_slice(&(d.len() as u32).to_le_bytes());
        f.extend_from_slice(&(d.len() as u32).to_le_bytes());
        f.extend_from_slice(d);
    }
    f
}

/// A big-endian nanosecond pcap file.
fn pcap_file_be_nanos(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
    f.extend_from_slice(&2u16.to_be_bytes());
    f.extend_from_slice(&4u16.to_be_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_be_bytes());
    f.extend_from_slice(&link.to_be_bytes());
    for d in frames {
        f.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        f.extend_from_slice(&123_456_789u32.to_be_bytes());
        f.extend_from_slice(&(d.len() as u32).to_be_bytes());
        f.extend_from_slice(&(d.len() as u32).to_be_bytes());
        f.extend_from_slice(d);
    }
    f
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn ng_block(t: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    pad4(&mut body);
    let len = (body.len() + 12) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&t.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// A little-endian pcapng file: one SHB, one IDB per `(link, tsresol)`, then EPBs
/// `(interface, timestamp units, data)`, plus an unknown block and an SPB-free layout.
fn pcapng_file(ifaces: &[(u16, Option<u8>)], packets: &[(u32, u64, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    f.extend(ng_block(0x0a0d_0d0a, &shb));
    for (link, tsresol) in ifaces {
        let mut idb = Vec::new();
        idb.extend_from_slice(&link.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        if let Some(r) = tsresol {
            idb.extend_from_slice(&9u16.to_le_bytes());
            idb.extend_from_slice(&1u16.to_le_bytes());
            idb.extend_from_slice(&[*r, 0, 0, 0]);
            idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        f.extend(ng_block(1, &idb));
    }
    // An unknown block type must be skipped.
    f.extend(ng_block(0x0bad_0001, b"ignore me"));
    for (iface, ts, data) in packets {
        let mut epb = Vec::new();
        epb.extend_from_slice(&iface.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        f.extend(ng_block(6, &epb));
    }
    f
}

fn ether_pcap(segs: &[Seg<'_>]) -> Vec<u8> {
    pcap_file(1, &segs.iter().map(ether_frame).collect::<Vec<_>>())
}

fn handshake(cisn: u32, sisn: u32) -> Vec<Seg<'static>> {
    vec![
        Seg {
            syn: true,
            ack: false,
            ..seg(true, cisn, b"")
        },
        Seg {
            syn: true,
            ..seg(false, sisn, b"")
        },
        seg(true, cisn.wrapping_add(1), b""),
    ]
}

// ---------------------------------------------------------------- synthetic tests

#[test]
fn simple_exchange_two_directions_in_order() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1001, b"hello"));
    s.push(seg(false, 5001, b"world!"));
    s.push(seg(true, 1006, b" again"));
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    assert_eq!(cap.frame_count, 6);
    assert!(cap.warnings.is_empty(), "{:?}", cap.warnings);
    assert_eq!(cap.connections.len(), 1);
    let c = &cap.connections[0];
    assert_eq!(c.id, 0);
    assert_eq!(c.client, "10.0.0.1:50000".parse::<SocketAddr>().unwrap());
    assert_eq!(c.server, "10.0.0.2:135".parse::<SocketAddr>().unwrap());
    assert!(c.syn_seen);
    assert_eq!(c.stream(C2S), b"hello again");
    assert_eq!(c.stream(S2C), b"world!");
    assert_eq!(c.frames, vec![1, 2, 3, 4, 5, 6]);
    let order: Vec<(Direction, u32, &[u8])> = c
        .segments
        .iter()
        .map(|ch| (ch.direction, ch.frame, ch.data.as_slice()))
        .collect();
    assert_eq!(
        order,
        vec![
            (C2S, 4, &b"hello"[..]),
            (S2C, 5, &b"world!"[..]),
            (C2S, 6, &b" again"[..])
        ]
    );
    assert_eq!(c.segments[2].offset, 5);
    assert_eq!(c.segments[0].timestamp.secs, 1_700_000_003);
    assert_eq!(c.segments[0].timestamp.nanos, 250_000_000);
}

#[test]
fn retransmission_and_overlap_keep_first_copy() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1001, b"abcdef"));
    s.push(seg(true, 1001, b"abcdef")); // exact retransmission
    s.push(seg(true, 1004, b"XYZghi")); // overlaps "def": first copy wins
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    let c = &cap.connections[0];
    assert_eq!(c.stream(C2S), b"abcdefghi");
    let frames: Vec<u32> = c.chunks(C2S).map(|ch| ch.frame).collect();
    assert_eq!(frames, vec![4, 6]);
    assert_eq!(c.gap_bytes(C2S), 0);
}

#[test]
fn out_of_order_segments_are_buffered_and_attributed() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1007, b"world")); // arrives early
    s.push(seg(true, 1001, b"hello ")); // fills the hole
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    let c = &cap.connections[0];
    assert_eq!(c.stream(C2S), b"hello world");
    let chunks: Vec<(u32, u64)> = c.chunks(C2S).map(|ch| (ch.frame, ch.offset)).collect();
    assert_eq!(chunks, vec![(5, 0), (4, 6)]);
}

#[test]
fn out_of_order_overlap_first_copy_wins_in_buffer() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1005, b"EFGH")); // buffered first
    s.push(seg(true, 1003, b"cdefghij")); // overlaps the buffered piece
    s.push(seg(true, 1001, b"ab"));
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    assert_eq!(cap.connections[0].stream(C2S), b"abcdEFGHij");
}

#[test]
fn sequence_numbers_wrap_around() {
    let isn = u32::MAX - 3;
    let mut s = handshake(isn, 7);
    s.push(seg(true, isn.wrapping_add(1), b"abc"));
    s.push(seg(true, isn.wrapping_add(4), b"defgh")); // crosses 2^32
    s.push(seg(true, isn.wrapping_add(6), b"fgh")); // retransmission after the wrap
    s.push(seg(true, 5, b"ij"));
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    assert_eq!(cap.connections[0].stream(C2S), b"abcdefghij");
}

#[test]
fn missing_data_becomes_a_gap_and_fin_closes() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1001, b"abc"));
    s.push(seg(true, 1010, b"xyz")); // 6 bytes (1004..1010) never captured
    s.push(Seg {
        fin: true,
        ..seg(true, 1013, b"")
    });
    s.push(Seg {
        fin: true,
        ..seg(false, 5001, b"")
    });
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    let c = &cap.connections[0];
    assert_eq!(c.stream(C2S), b"abcxyz");
    assert_eq!(c.gap_bytes(C2S), 6);
    let last = c.chunks(C2S).last().expect("chunk");
    assert_eq!((last.offset, last.gap_before, last.frame), (9, 6, 5));
    assert!(c.fin_seen(C2S) && c.fin_seen(S2C));
}

#[test]
fn trailing_hole_before_fin_is_a_gap_marker() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1001, b"abc"));
    s.push(Seg {
        fin: true,
        ..seg(true, 1008, b"")
    });
    let cap = read_capture(&ether_pcap(&s)).expect("capture");
    let c = &cap.connections[0];
    assert_eq!(c.stream(C2S), b"abc");
    assert_eq!(c.gap_bytes(C2S), 4);
    let last = c.chunks(C2S).last().expect("marker");
    assert!(last.data.is_empty());
    assert_eq!(last.frame, 5);
}

#[test]
fn no_syn_well_known_port_is_server_else_first_sender() {
    // Server (port 135) speaks first; still the server.
    let cap = read_capture(&ether_pcap(&[seg(false, 9, b"x"), seg(true, 1, b"yy")])).unwrap();
    let c = &cap.connections[0];
    assert_eq!(c.server.port(), 135);
    assert!(!c.syn_seen);
    assert_eq!(c.stream(S2C), b"x");
    assert_eq!(c.stream(C2S), b"yy");

    // Both ports high: the first sender is the client.
    let frames: Vec<Vec<u8>> = [([10, 0, 0, 9], 49700u16, [10, 0, 0, 8], 50001u16)]
        .iter()
        .map(|(s, sp, d, dp)| {
            let b = PacketBuilder::ipv4(*s, *d, 64)
                .tcp(*sp, *dp, 77, 100)
                .ack(1);
            let mut v = Vec::new();
            b.write(&mut v, b"req").unwrap();
            v
        })
        .collect();
    let cap = read_capture(&pcap_file(101, &frames)).unwrap();
    assert_eq!(
        cap.connections[0].client,
        "10.0.0.9:49700".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(cap.connections[0].stream(C2S), b"req");
}

#[test]
fn syn_ack_first_still_finds_the_client() {
    let s = [
        Seg {
            syn: true,
            ..seg(false, 5000, b"")
        },
        seg(true, 1001, b"bind"),
    ];
    let cap = read_capture(&ether_pcap(&s)).unwrap();
    let c = &cap.connections[0];
    assert_eq!(c.client.port(), 50000);
    assert_eq!(c.stream(C2S), b"bind");
}

#[test]
fn port_reuse_after_close_starts_a_new_connection() {
    let mut s = handshake(1000, 5000);
    s.push(seg(true, 1001, b"one"));
    s.push(Seg {
        rst: true,
        ..seg(true, 1004, b"")
    });
    s.extend(handshake(90_000, 70_000));
    s.push(seg(true, 90_001, b"two"));
    let cap = read_capture(&ether_pcap(&s)).unwrap();
    assert_eq!(cap.connections.len(), 2);
    assert!(cap.connections[0].reset);
    assert_eq!(cap.connections[0].stream(C2S), b"one");
    assert_eq!(cap.connections[1].stream(C2S), b"two");
    assert_eq!(cap.connections[1].id, 1);
}

#[test]
fn pcap_big_endian_nanoseconds_and_raw_ipv6() {
    let b = PacketBuilder::ipv6([1; 16], [2; 16], 64)
        .tcp(50000, 135, 1, 100)
        .ack(1);
    let mut frame = Vec::new();
    b.write(&mut frame, b"v6 data").unwrap();
    let file = pcap_file_be_nanos(101, &[frame]);
    let frames = read_frames(&file).unwrap();
    assert_eq!(frames[0].timestamp.nanos, 123_456_789);
    assert_eq!(frames[0].link_type, 101);
    let cap = read_capture(&file).unwrap();
    assert_eq!(cap.connections[0].stream(C2S), b"v6 data");
    assert!(cap.connections[0].client.is_ipv6());
}

#[test]
fn linux_cooked_null_and_vlan_link_types() {
    let ip_frame = |payload: &[u8]| {
        let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .tcp(40000, 445, 1, 100)
            .ack(1);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    };
    // SLL: 16-byte header, protocol at 14.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend(ip_frame(b"sll"));
    // SLL2: protocol at 0, 20-byte header.
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend(ip_frame(b"sll2"));
    // NULL: AF_INET in little-endian host order.
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend(ip_frame(b"null"));
    // Ethernet with one 802.1Q tag.
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .single_vlan(etherparse::VlanId::try_new(7).unwrap())
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
        .tcp(40000, 445, 1, 100)
        .ack(1);
    let mut vlan = Vec::new();
    b.write(&mut vlan, b"vlan").unwrap();
    for (link, frame, want) in [
        (113u32, sll, &b"sll"[..]),
        (276, sll2, b"sll2"),
        (0, null, b"null"),
        (1, vlan, b"vlan"),
    ] {
        let cap = read_capture(&pcap_file(link, &[frame])).unwrap();
        assert!(cap.warnings.is_empty(), "link {link}: {:?}", cap.warnings);
        assert_eq!(cap.connections[0].stream(C2S), want, "link {link}");
    }
}

#[test]
fn pcapng_several_interfaces_and_resolutions() {
    let a = ether_frame(&seg(true, 1, b"on eth"));
    let b = {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(50000, 135, 7, 100)
            .ack(1);
        let mut v = Vec::new();
        b.write(&mut v, b" on raw").unwrap();
        v
    };
    let file = pcapng_file(
        &[(1, None), (101, Some(9)), (1, Some(0x80 | 10))],
        &[
            (0, 1_500_000, a),
            (1, 2_000_000_123, b),
            (2, 3 * 1024 + 512, ether_frame(&seg(false, 50, b"pow2"))),
            (7, 0, vec![0; 20]), // no such interface
        ],
    );
    let frames = read_frames(&file).unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].timestamp.secs, 1);
    assert_eq!(frames[0].timestamp.nanos, 500_000_000);
    assert_eq!(frames[1].link_type, 101);
    assert_eq!(frames[1].timestamp.secs, 2);
    assert_eq!(frames[1].timestamp.nanos, 123);
    assert_eq!(frames[2].timestamp.secs, 3);
    assert_eq!(frames[2].timestamp.nanos, 500_000_000);
    let cap = read_capture(&file).unwrap();
    assert_eq!(cap.connections.len(), 1);
    let c = &cap.connections[0];
    assert_eq!(c.stream(C2S), b"on eth on raw");
    assert_eq!(c.stream(S2C), b"pow2");
    assert_eq!(cap.warnings.len(), 1);
    assert_eq!(cap.warnings[0].frame, 4);
    assert_eq!(cap.warnings[0].kind, WarningKind::UnknownInterface);
}

#[test]
fn file_errors_are_typed() {
    assert_eq!(
        read_capture(b"").unwrap_err(),
        CaptureError::Truncated { offset: 0 }
    );
    assert_eq!(
        read_capture(b"GIF89a..").unwrap_err(),
        CaptureError::UnknownFormat
    );
    let good = ether_pcap(&[seg(true, 1, b"abc"), seg(true, 4, b"def")]);
    // Cut inside the second record.
    let cut = &good[..good.len() - 3];
    match read_capture(cut) {
        Err(CaptureError::Truncated { offset }) => assert!(offset > 24 && offset < cut.len()),
        other => panic!("expected truncated, got {other:?}"),
    }
    // Cut inside the global header.
    assert!(matches!(
        read_capture(&good[..10]),
        Err(CaptureError::Truncated { .. })
    ));
    // A pcapng block whose trailing length disagrees.
    let mut ng = pcapng_file(&[(1, None)], &[(0, 0, ether_frame(&seg(true, 1, b"x")))]);
    let n = ng.len();
    ng[n - 1] ^= 0x40;
    assert!(read_capture(&ng).is_err());
}

#[test]
fn corrupt_packet_in_the_middle_is_skipped_with_a_warning() {
    let mut frames: Vec<Vec<u8>> = [seg(true, 1, b"abc"), seg(true, 4, b"def")]
        .iter()
        .map(ether_frame)
        .collect();
    let mut bad = frames[0].clone();
    bad[14] = 0x4f; // IPv4 with IHL 15: header longer than the packet
    frames.insert(1, bad);
    frames.insert(2, vec![1, 2, 3]); // too short for Ethernet
    let cap = read_capture(&pcap_file(1, &frames)).unwrap();
    assert_eq!(cap.connections.len(), 1);
    assert_eq!(cap.connections[0].stream(C2S), b"abcdef");
    let w: Vec<(u32, WarningKind)> = cap.warnings.iter().map(|w| (w.frame, w.kind)).collect();
    assert_eq!(
        w,
        vec![
            (2, WarningKind::MalformedPacket),
            (3, WarningKind::MalformedPacket)
        ]
    );
    let cap = read_capture(&pcap_file(147, &[vec![0; 40]])).unwrap();
    assert_eq!(cap.warnings[0].kind, WarningKind::UnsupportedLinkType(147));
}

#[test]
fn out_of_order_buffer_is_bounded() {
    // A hole at offset 0 that is never filled, then more than MAX_PENDING_BYTES of data.
    let payload = vec![0x5a; 60_000];
    let n = winv_trace::capture::MAX_PENDING_BYTES / payload.len() + 2;
    let mut s = handshake(0, 0);
    for i in 0..n {
        s.push(seg(true, 101 + (i * payload.len()) as u32, &payload));
    }
    let cap = read_capture(&ether_pcap(&s)).unwrap();
    let c = &cap.connections[0];
    assert_eq!(c.gap_bytes(C2S), 100);
    assert_eq!(c.payload_len(C2S), (n * payload.len()) as u64);
    assert!(cap
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::BufferOverflow));
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz_capture(&data);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..512),
        ng in any::<bool>(),
    ) {
        let mut data = if ng {
            pcapng_file(&[(1, None)], &[])
        } else {
            pcap_file(1, &[])
        };
        data.extend(tail);
        fuzz_capture(&data);
    }

    /// Any split of a stream into segments, any duplication and any reordering within a
    /// window reassembles to the original bytes, across the 2^32 wrap.
    #[test]
    fn any_segmentation_and_reordering_reassembles(
        stream in proptest::collection::vec(any::<u8>(), 1..400),
        cuts in proptest::collection::vec(1usize..60, 1..40),
        swaps in proptest::collection::vec((0usize..50, 0usize..4), 0..20),
        dups in proptest::collection::vec(0usize..50, 0..5),
        isn in any::<u32>(),
    ) {
        let mut pieces: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut at = 0usize;
        let mut k = 0usize;
        while at < stream.len() {
            let len = cuts[k % cuts.len()].min(stream.len() - at);
            pieces.push((isn.wrapping_add(1).wrapping_add(at as u32), stream[at..at + len].to_vec()));
            at += len;
            k += 1;
        }
        for d in dups {
            if let Some(p) = pieces.get(d % pieces.len()).cloned() {
                pieces.insert((d * 7) % (pieces.len() + 1), p);
            }
        }
        for (i, off) in swaps {
            let i = i % pieces.len();
            let j = (i + off).min(pieces.len() - 1);
            pieces.swap(i, j);
        }
        let mut segs = handshake(isn, 1);
        let owned: Vec<(u32, Vec<u8>)> = pieces;
        for (seq, data) in &owned {
            segs.push(seg(true, *seq, data));
        }
        let cap = read_capture(&ether_pcap(&segs)).unwrap();
        let c = &cap.connections[0];
        prop_assert_eq!(c.stream(C2S), stream);
        prop_assert_eq!(c.gap_bytes(C2S), 0);
    }
}

// ---------------------------------------------------------------- real captures

fn fixtures_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/pcap");
    if p.is_dir() {
        return Some(p);
    }
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    assert!(!ci, "fixtures missing under CI: {}", p.display());
    eprintln!("SKIPPED: {} not found", p.display());
    None
}

fn load(name: &str) -> Option<Vec<u8>> {
    let dir = fixtures_dir()?;
    Some(std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}")))
}

/// Per connection: client, server, client→server bytes, server→client bytes
/// (as `tshark -q -z follow,tcp,raw,N` reports them; retransmissions excluded).
type Expected = &'static [(&'static str, &'static str, u64, u64)];

const SCAPY: Expected = &[
    ("192.168.0.101:49757", "192.168.0.100:135", 328, 280),
    ("192.168.0.101:49758", "192.168.0.100:49679", 1134, 34510),
];
const WINDOWS: Expected = &[
    ("172.16.66.1:49667", "172.16.66.36:445", 144, 144),
    ("172.16.66.1:49834", "172.16.66.36:445", 1, 0),
    ("172.16.66.1:49851", "172.16.66.36:135", 2840, 1501),
    ("172.16.66.1:49852", "172.16.66.36:49670", 9555, 82489),
    ("172.16.66.36:64952", "172.16.66.1:445", 1, 0),
    ("172.16.66.1:49713", "172.16.66.36:445", 1, 0),
];
const ZEEK: Expected = &[
    ("10.10.10.120:54784", "10.10.10.121:58772", 1156, 500),
    ("10.10.10.120:54785", "10.10.10.100:88", 0, 0),
];

fn check_expected(name: &str, expected: Expected) {
    let Some(bytes) = load(name) else { return };
    let cap = read_capture(&bytes).expect("fixture parses");
    assert!(cap.warnings.is_empty(), "{name}: {:?}", cap.warnings);
    assert_eq!(
        cap.connections.len(),
        expected.len(),
        "{name}: connection count"
    );
    for (c, (cl, sv, up, down)) in cap.connections.iter().zip(expected) {
        assert_eq!(c.client.to_string(), *cl, "{name} #{}", c.id);
        assert_eq!(c.server.to_string(), *sv, "{name} #{}", c.id);
        assert_eq!(c.payload_len(C2S), *up, "{name} #{} c->s", c.id);
        assert_eq!(c.payload_len(S2C), *down, "{name} #{} s->c", c.id);
        assert_eq!(c.gap_bytes(C2S) + c.gap_bytes(S2C), 0, "{name} #{}", c.id);
    }
}

#[test]
fn fixture_scapy_counts() {
    check_expected("scapy-dcerpc-privacy-ntlm.pcapng", SCAPY);
}

#[test]
fn fixture_windows_wmi_counts() {
    check_expected("windows-wmi-processcallcreate.pcapng", WINDOWS);
}

#[test]
fn fixture_zeek_counts() {
    check_expected("zeek-dce-rpc-ntlm.pcapng", ZEEK);
}

#[test]
fn fixture_scapy_retransmission_and_bind_ack() {
    let Some(bytes) = load("scapy-dcerpc-privacy-ntlm.pcapng") else {
        return;
    };
    let cap = read_capture(&bytes).unwrap();
    // Frame 20 retransmits frame 7's 172 bytes; the stream keeps frame 7's copy only.
    let epm = &cap.connections[0];
    let frames: Vec<u32> = epm.chunks(S2C).map(|c| c.frame).collect();
    assert_eq!(frames, vec![5, 7]);
    // Second connection: first server PDU is the bind_ack (05 00 0c) in frame 12.
    let svcctl = &cap.connections[1];
    let first = svcctl.chunks(S2C).next().expect("server data");
    assert_eq!(first.frame, 12);
    assert_eq!(&first.data[..3], &[0x05, 0x00, 0x0c]);
    // The client's first PDU is a bind (packet type 11).
    assert_eq!(&svcctl.stream(C2S)[..3], &[0x05, 0x00, 0x0b]);
    // Every DCE/RPC fragment length adds up to the whole stream (no gap, no duplicate).
    for dir in [C2S, S2C] {
        let s = svcctl.stream(dir);
        let mut at = 0usize;
        while at < s.len() {
            assert_eq!(s[at], 5, "PDU at {at} starts with version 5");
            let frag = u16::from_le_bytes([s[at + 8], s[at + 9]]) as usize;
            at += frag;
        }
        assert_eq!(at, s.len());
    }
}

#[test]
fn fixture_mutations_never_panic() {
    let Some(bytes) = load("scapy-dcerpc-privacy-ntlm.pcapng") else {
        return;
    };
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..400 {
        let mut m = bytes.clone();
        for _ in 0..(next() % 8 + 1) {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        if next() % 4 == 0 {
            let cut = (next() as usize) % m.len();
            m.truncate(cut);
        }
        fuzz_capture(&m);
    }
}

// ---------------------------------------------------------------- tshark cross-check

fn tshark_ok() -> bool {
    std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `tshark -q -z follow,tcp,raw,N`: (node 0, node 1, bytes from node 0, bytes from node 1).
fn tshark_follow(path: &std::path::Path, stream: u32) -> (String, String, Vec<u8>, Vec<u8>) {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-q", "-z", &format!("follow,tcp,raw,{stream}")])
        .output()
        .expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut n0, mut n1, mut a, mut b) = (String::new(), String::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("Node 0: ") {
            n0 = r.trim().to_string();
        } else if let Some(r) = line.strip_prefix("Node 1: ") {
            n1 = r.trim().to_string();
        } else if let Some(h) = line.strip_prefix('\t') {
            if let Ok(v) = hex::decode(h.trim()) {
                b.extend(v);
            }
        } else if !line.is_empty() && line.bytes().all(|c| c.is_ascii_hexdigit()) {
            a.extend(hex::decode(line.trim()).expect("hex"));
        }
    }
    (n0, n1, a, b)
}

#[test]
fn fixtures_match_tshark_byte_for_byte() {
    let Some(dir) = fixtures_dir() else { return };
    if !tshark_ok() {
        let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
        assert!(!ci, "tshark missing under CI");
        eprintln!("SKIPPED: tshark not installed");
        return;
    }
    for name in [
        "scapy-dcerpc-privacy-ntlm.pcapng",
        "windows-wmi-processcallcreate.pcapng",
        "zeek-dce-rpc-ntlm.pcapng",
    ] {
        let path = dir.join(name);
        let cap = read_capture(&std::fs::read(&path).unwrap()).unwrap();
        // Number of TCP streams according to tshark.
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-Y", "tcp", "-T", "fields", "-e", "tcp.stream"])
            .output()
            .expect("run tshark");
        let streams: std::collections::BTreeSet<u32> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(cap.connections.len(), streams.len(), "{name}");
        for c in &cap.connections {
            let (n0, n1, from0, from1) = tshark_follow(&path, c.id);
            let (up, down) = if n0 == c.client.to_string() {
                assert_eq!(n1, c.server.to_string());
                (from0, from1)
            } else {
                assert_eq!(n0, c.server.to_string(), "{name} #{}", c.id);
                (from1, from0)
            };
            assert_eq!(c.stream(C2S), up, "{name} #{} c->s", c.id);
            assert_eq!(c.stream(S2C), down, "{name} #{} s->c", c.id);
        }
    }
}
