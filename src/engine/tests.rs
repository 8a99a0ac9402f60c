//! The codec end to end: frames in pieces, every refusal, limits, compression, and a
//! property test over random messages, fragmentations, reads and deflate settings.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::*;
use crate::message::Message;

const LIMITS: Limits = Limits {
    max_frame: 1 << 20,
    max_message: 1 << 20,
};

/// A small xorshift generator: deterministic, seeded per case, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn decode_all(decoder: &mut Decoder, wire: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    let mut events = Vec::new();
    decoder.decode(wire, |e| {
        events.push(e);
        ControlFlow::Continue(())
    })?;
    Ok(events)
}

/// Decodes `wire` in the given read sizes (cycled); the error, if any, and where.
fn decode_in_reads(
    decoder: &mut Decoder,
    wire: &[u8],
    sizes: &[usize],
) -> (Vec<Event>, Option<(ProtocolError, usize)>) {
    let mut events = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < wire.len() {
        let n = sizes[i % sizes.len()].max(1).min(wire.len() - at);
        i += 1;
        let read = &wire[at..at + n];
        match decoder.decode(read, |e| {
            events.push(e);
            ControlFlow::Continue(())
        }) {
            Ok(used) => {
                if used < n {
                    break; // a close ended the input
                }
            }
            Err(e) => return (events, Some((e, at + n))),
        }
        at += n;
    }
    (events, None)
}

fn client() -> Encoder {
    Encoder::new(Role::Client, None)
}

fn server() -> Decoder {
    Decoder::new(Role::Server, LIMITS, None)
}

fn err(wire: &[u8]) -> ProtocolError {
    decode_all(&mut server(), wire).unwrap_err()
}

#[test]
fn fragments_with_control_frames_between_them() {
    let mut c = client();
    let mut wire = Vec::new();
    c.frame(false, false, OpCode::Text, "Hel".as_bytes(), &mut wire);
    c.ping(b"p1", &mut wire);
    c.frame(false, false, OpCode::Continuation, b"lo, ", &mut wire);
    c.pong(b"", &mut wire);
    c.frame(
        true,
        false,
        OpCode::Continuation,
        "wörld".as_bytes(),
        &mut wire,
    );
    c.message(&Message::binary(vec![1, 2, 3]), &mut wire);
    c.close(Some(1000), "bye", &mut wire);
    c.message(&"after the close".into(), &mut wire);
    for size in [1, 2, 3, 5, 7, 64, wire.len()] {
        let mut d = server();
        let (events, error) = decode_in_reads(&mut d, &wire, &[size]);
        assert_eq!(error, None);
        assert_eq!(
            events,
            [
                Event::Ping(Bytes::from_static(b"p1")),
                Event::Pong(Bytes::new()),
                Event::Message("Hello, wörld".into()),
                Event::Message(Message::binary(vec![1, 2, 3])),
                Event::Close(Some((1000, "bye".into()))),
            ],
            "reads of {size}"
        );
        assert!(d.is_done());
    }
}

/// The connection's unfinished-input deadline runs while the decoder is not idle: a
/// fragmented message keeps it so through the control frames between its fragments.
#[test]
fn a_fragmented_message_is_unfinished_until_its_last_frame() {
    let mut c = client();
    let (mut begun, mut ping, mut end) = (Vec::new(), Vec::new(), Vec::new());
    c.frame(false, false, OpCode::Text, b"Hel", &mut begun);
    c.ping(b"p", &mut ping);
    c.frame(true, false, OpCode::Continuation, b"lo", &mut end);
    let mut d = server();
    assert!(d.is_idle());
    assert!(decode_all(&mut d, &begun).unwrap().is_empty());
    assert!(!d.is_idle(), "the message has begun");
    assert_eq!(
        decode_all(&mut d, &ping).unwrap(),
        [Event::Ping(Bytes::from_static(b"p"))]
    );
    assert!(!d.is_idle(), "a ping between fragments does not end it");
    assert_eq!(
        decode_all(&mut d, &end).unwrap(),
        [Event::Message("Hello".into())]
    );
    assert!(d.is_idle());
}

#[test]
fn empty_messages_and_frames() {
    let mut c = client();
    let mut wire = Vec::new();
    c.message(&"".into(), &mut wire);
    c.frame(false, false, OpCode::Binary, b"", &mut wire);
    c.frame(false, false, OpCode::Continuation, b"", &mut wire);
    c.frame(true, false, OpCode::Continuation, b"", &mut wire);
    c.close(None, "", &mut wire);
    let events = decode_all(&mut server(), &wire).unwrap();
    assert_eq!(
        events,
        [
            Event::Message("".into()),
            Event::Message(Message::binary(Vec::new())),
            Event::Close(None),
        ]
    );
}

#[test]
fn breaking_off_leaves_the_rest_for_later() {
    let mut c = client();
    let mut wire = Vec::new();
    for text in ["one", "two", "three"] {
        c.message(&text.into(), &mut wire);
    }
    let mut d = server();
    let mut got = Vec::new();
    let used = d
        .decode(&wire, |e| {
            got.push(e);
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(got, [Event::Message("one".into())]);
    assert!(d.is_idle());
    let rest = decode_all(&mut d, &wire[used..]).unwrap();
    assert_eq!(
        rest,
        [Event::Message("two".into()), Event::Message("three".into())]
    );
}

#[test]
fn every_refusal_and_its_code() {
    let mut c = client();
    let frame = |c: &mut Encoder, fin, rsv1, op, payload: &[u8]| {
        let mut w = Vec::new();
        c.frame(fin, rsv1, op, payload, &mut w);
        w
    };
    // Unmasked frame to a server, masked frame to a client.
    let mut plain = Vec::new();
    Encoder::new(Role::Server, None).message(&"hi".into(), &mut plain);
    assert_eq!(err(&plain), ProtocolError::Masking);
    let masked = frame(&mut c, true, false, OpCode::Text, b"hi");
    let e = decode_all(&mut Decoder::new(Role::Client, LIMITS, None), &masked).unwrap_err();
    assert_eq!(e, ProtocolError::Masking);
    // RSV1 without deflate.
    let e = err(&frame(&mut c, true, true, OpCode::Text, b"hi"));
    assert_eq!((e.close_code(), e), (1002, ProtocolError::ReservedBits));
    // Fragmented and long control frames.
    assert_eq!(
        err(&frame(&mut c, false, false, OpCode::Ping, b"")),
        ProtocolError::BadControlFrame
    );
    assert_eq!(
        err(&frame(&mut c, true, false, OpCode::Ping, &[0; 126])),
        ProtocolError::BadControlFrame
    );
    // Continuation without a message; a new message inside one.
    assert_eq!(
        err(&frame(&mut c, true, false, OpCode::Continuation, b"x")),
        ProtocolError::UnexpectedContinuation
    );
    let mut w = frame(&mut c, false, false, OpCode::Text, b"a");
    w.extend(frame(&mut c, true, false, OpCode::Binary, b"b"));
    assert_eq!(err(&w), ProtocolError::ExpectedContinuation);
    // Close bodies.
    assert_eq!(
        err(&frame(&mut c, true, false, OpCode::Close, &[3])),
        ProtocolError::BadClosePayload
    );
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
    ] {
        let e = err(&frame(
            &mut c,
            true,
            false,
            OpCode::Close,
            &code.to_be_bytes(),
        ));
        assert_eq!(
            (e.close_code(), e),
            (1002, ProtocolError::BadCloseCode(code))
        );
    }
    let e = err(&frame(
        &mut c,
        true,
        false,
        OpCode::Close,
        b"\x03\xe8\xce\xba\xff",
    ));
    assert_eq!((e.close_code(), e), (1007, ProtocolError::InvalidUtf8));
    // Invalid UTF-8 in a whole message.
    let e = err(&frame(&mut c, true, false, OpCode::Text, b"\xc0\x80"));
    assert_eq!(e.close_code(), 1007);
}

#[test]
fn invalid_utf8_fails_at_the_first_bad_byte_across_frames_and_reads() {
    // Autobahn 6.4.*: valid text, then a byte that can start no character, then more.
    let good = "κόσμε".as_bytes();
    let bad = b"\xf4\x90\x80\x80";
    let mut c = client();
    // One frame, arriving a byte at a time: fails on the 0x90, not at the frame's end.
    let mut payload = good.to_vec();
    payload.extend_from_slice(bad);
    payload.extend_from_slice(b"edited");
    let mut w = Vec::new();
    c.frame(true, false, OpCode::Text, &payload, &mut w);
    let header = w.len() - payload.len();
    let (_, error) = decode_in_reads(&mut server(), &w, &[1]);
    let (e, at) = error.unwrap();
    assert_eq!(e, ProtocolError::InvalidUtf8);
    assert_eq!(at, header + good.len() + 2, "failed after byte {at}");
    // Three fragments: fails on the second, before the third arrives.
    let mut w = Vec::new();
    c.frame(false, false, OpCode::Text, good, &mut w);
    c.frame(false, false, OpCode::Continuation, bad, &mut w);
    let upto = w.len();
    c.frame(true, false, OpCode::Continuation, b"edited", &mut w);
    let mut d = server();
    let e = decode_all(&mut d, &w[..upto]).unwrap_err();
    assert_eq!(e, ProtocolError::InvalidUtf8);
    // A character split across fragments is fine.
    let mut w = Vec::new();
    c.frame(false, false, OpCode::Text, &good[..1], &mut w);
    c.frame(true, false, OpCode::Continuation, &good[1..], &mut w);
    let events = decode_all(&mut server(), &w).unwrap();
    assert_eq!(events, [Event::Message("κόσμε".into())]);
    // But not left unfinished.
    let mut w = Vec::new();
    c.frame(true, false, OpCode::Text, &good[..good.len() - 1], &mut w);
    assert_eq!(err(&w), ProtocolError::InvalidUtf8);
}

#[test]
fn a_declared_length_reserves_nothing() {
    // A header declaring 1 MiB (within the limits), and 10 bytes of it.
    let mut w = vec![0x82, 0xff];
    w.extend_from_slice(&(1u64 << 20).to_be_bytes());
    w.extend_from_slice(&[1, 2, 3, 4]);
    w.extend_from_slice(&[0; 10]);
    let mut d = server();
    assert_eq!(decode_all(&mut d, &w).unwrap(), []);
    assert!(d.held_capacity() < 64, "{}", d.held_capacity());
    // Over the limits: refused at the header.
    let mut w = vec![0x82, 0xff];
    w.extend_from_slice(&(1u64 << 30).to_be_bytes());
    w.extend_from_slice(&[1, 2, 3, 4]);
    let e = err(&w);
    assert_eq!(e.close_code(), 1009);
    // The message limit counts every fragment.
    let limits = Limits {
        max_frame: 100,
        max_message: 150,
    };
    let mut c = client();
    let mut w = Vec::new();
    c.frame(false, false, OpCode::Binary, &[0; 100], &mut w);
    c.frame(true, false, OpCode::Continuation, &[0; 51], &mut w);
    let e = decode_all(&mut Decoder::new(Role::Server, limits, None), &w).unwrap_err();
    assert_eq!(e, ProtocolError::MessageTooLarge { max: 150 });
}

#[test]
fn a_header_cut_anywhere_is_kept_until_whole() {
    let mut c = client();
    let mut w = Vec::new();
    c.message(&Message::binary(vec![7; 70_000]), &mut w);
    for cut in 1..14 {
        let mut d = server();
        assert_eq!(decode_all(&mut d, &w[..cut]).unwrap(), []);
        assert!(!d.is_idle());
        let events = decode_all(&mut d, &w[cut..]).unwrap();
        assert_eq!(events, [Event::Message(Message::binary(vec![7; 70_000]))]);
        assert!(d.is_idle());
    }
}

fn deflate_pair(takeover: bool) -> (DeflateParams, DeflateConfig) {
    let config = DeflateConfig {
        server_context_takeover: takeover,
        client_context_takeover: takeover,
        threshold: 0,
        ..DeflateConfig::default()
    };
    let (params, _) = negotiate(["permessage-deflate; client_max_window_bits"], &config).unwrap();
    (params, config)
}

#[test]
fn compressed_fragmented_messages_with_pings_between() {
    for takeover in [false, true] {
        let (params, config) = deflate_pair(takeover);
        let mut c = Encoder::new(Role::Client, Some((&params, &config)));
        let mut d = Decoder::new(Role::Server, LIMITS, Some(&params));
        let text = "Habe nun, ach! Philosophie, Juristerei und Medizin, ".repeat(40);
        for round in 0..3 {
            let mut frames = Vec::new();
            c.fragmented(&Message::from(text.as_str()), 4, &mut frames);
            // Put a ping after the first frame.
            let (h, used) = Header::parse(&frames).unwrap().unwrap();
            let first = used + h.len as usize;
            let mut wire = frames[..first].to_vec();
            c.ping(b"!", &mut wire);
            wire.extend_from_slice(&frames[first..]);
            let (events, error) = decode_in_reads(&mut d, &wire, &[3, 17, 100]);
            assert_eq!(error, None);
            assert_eq!(
                events,
                [
                    Event::Ping(Bytes::from_static(b"!")),
                    Event::Message(text.as_str().into())
                ],
                "takeover {takeover} round {round}"
            );
        }
        assert_eq!(d.holds_zlib_state(), takeover);
        assert_eq!(c.holds_zlib_state(), takeover);
    }
}

#[test]
fn compressed_refusals() {
    let (params, config) = deflate_pair(false);
    let mut c = Encoder::new(Role::Client, Some((&params, &config)));
    let mut d = Decoder::new(Role::Server, LIMITS, Some(&params));
    // RSV1 on a continuation, and on a control frame.
    let mut w = Vec::new();
    c.frame(false, true, OpCode::Text, b"", &mut w);
    c.frame(true, true, OpCode::Continuation, b"", &mut w);
    assert_eq!(
        decode_all(&mut d, &w).unwrap_err(),
        ProtocolError::CompressedBitMisplaced
    );
    let mut d = Decoder::new(Role::Server, LIMITS, Some(&params));
    let mut w = Vec::new();
    c.frame(true, true, OpCode::Ping, b"", &mut w);
    assert_eq!(
        decode_all(&mut d, &w).unwrap_err(),
        ProtocolError::CompressedBitMisplaced
    );
    // Not deflate at all.
    let mut d = Decoder::new(Role::Server, LIMITS, Some(&params));
    let mut w = Vec::new();
    c.frame(true, true, OpCode::Binary, &[0xff; 40], &mut w);
    assert_eq!(decode_all(&mut d, &w).unwrap_err().close_code(), 1007);
    // Invalid UTF-8 inside compressed text.
    let mut d = Decoder::new(Role::Server, LIMITS, Some(&params));
    let mut w = Vec::new();
    let mut evil = b"valid start ".repeat(20);
    evil.extend_from_slice(b"\xf4\x90\x80\x80");
    c.fragmented(&Message::binary(evil), 1 << 20, &mut w);
    w[0] = (w[0] & 0xf0) | OpCode::Text.bits(); // same compressed bytes, as text
    assert_eq!(
        decode_all(&mut d, &w).unwrap_err(),
        ProtocolError::InvalidUtf8
    );
}

#[test]
fn a_deflate_bomb_costs_no_more_than_the_limit() {
    let (params, mut config) = deflate_pair(false);
    config.level = 9;
    let mut c = Encoder::new(Role::Client, Some((&params, &config)));
    let limits = Limits {
        max_frame: 1 << 20,
        max_message: 256 << 10,
    };
    let mut d = Decoder::new(Role::Server, limits, Some(&params));
    let mut w = Vec::new();
    c.fragmented(&Message::binary(vec![0; 64 << 20]), 4096, &mut w);
    assert!(w.len() < 200 << 10, "{}", w.len());
    let (_, error) = decode_in_reads(&mut d, &w, &[4096]);
    let (e, at) = error.unwrap();
    assert_eq!(e, ProtocolError::MessageTooLarge { max: 256 << 10 });
    assert!(at < 8192, "read {at} bytes before failing");
    assert_eq!(d.held_capacity(), 0);
}

/// Splits a buffer of frames into the frames.
fn split_frames(mut wire: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let (h, used) = Header::parse(wire).unwrap().unwrap();
        let (frame, rest) = wire.split_at(used + h.len as usize);
        frames.push(frame);
        wire = rest;
    }
    frames
}

fn random_message(rng: &mut Rng) -> Message {
    let len = match rng.below(10) {
        0 => 0,
        1..=5 => rng.below(200),
        6..=8 => rng.below(5000),
        _ => rng.below(70_000),
    };
    if rng.chance(50) {
        const CHARS: [&str; 8] = ["a", "b", " ", "{\"k\":1}", "é", "κόσμε", "€", "😀"];
        let mut s = String::new();
        while s.len() < len {
            let pool = if rng.chance(80) { 4 } else { CHARS.len() };
            s.push_str(CHARS[rng.below(pool)]);
        }
        Message::from(s)
    } else {
        let repetitive = rng.chance(50);
        let data: Vec<u8> = (0..len)
            .map(|i| {
                if repetitive {
                    (i % 7) as u8
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        Message::binary(data)
    }
}

fn random_deflate(rng: &mut Rng) -> Option<(DeflateParams, DeflateConfig)> {
    if rng.chance(25) {
        return None;
    }
    let config = DeflateConfig {
        level: rng.below(10) as u32,
        threshold: [0, 1, 64, 1000][rng.below(4)],
        server_context_takeover: rng.chance(50),
        client_context_takeover: rng.chance(50),
        server_max_window_bits: 9 + rng.below(7) as u8,
        client_max_window_bits: 9 + rng.below(7) as u8,
    };
    let mut offer = String::from("permessage-deflate");
    if rng.chance(30) {
        offer.push_str("; server_no_context_takeover");
    }
    if rng.chance(50) {
        offer.push_str(&format!("; client_max_window_bits={}", 9 + rng.below(7)));
    } else if rng.chance(50) {
        offer.push_str("; client_max_window_bits");
    }
    let (params, _) = negotiate([offer.as_str()], &config).unwrap();
    Some((params, config))
}

/// Random messages in random fragmentations, with pings between fragments, arriving in
/// random reads, under random deflate settings, in both directions: every message and
/// ping comes out whole and in order.
#[test]
fn property_round_trip() {
    let cases = if cfg!(debug_assertions) { 150 } else { 1500 };
    for case in 0..cases {
        let mut rng = Rng(0x5eed_0000 + case);
        let deflate = random_deflate(&mut rng);
        let limits = Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        for (send, recv) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let d = deflate.as_ref();
            let mut encoder = Encoder::new(send, d.map(|(p, c)| (p, c)));
            encoder.seed_masks(rng.next() as u32);
            let mut decoder = Decoder::new(recv, limits, d.map(|(p, _)| p));
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for _ in 0..1 + rng.below(6) {
                let msg = random_message(&mut rng);
                let mut frames = Vec::new();
                let max_payload = match rng.below(3) {
                    0 => usize::MAX,
                    1 => 1 + rng.below(16),
                    _ => 1 + rng.below(msg.len() + 1),
                };
                encoder.fragmented(&msg, max_payload, &mut frames);
                let frames = split_frames(&frames);
                for (i, frame) in frames.iter().enumerate() {
                    wire.extend_from_slice(frame);
                    if i + 1 < frames.len() && rng.chance(10) {
                        let payload = vec![i as u8; rng.below(126)];
                        encoder.ping(&payload, &mut wire);
                        expected.push(Event::Ping(Bytes::from(payload)));
                    }
                }
                expected.push(Event::Message(msg));
            }
            let sizes: Vec<usize> = (0..8)
                .map(|_| match rng.below(3) {
                    0 => 1 + rng.below(8),
                    1 => 1 + rng.below(2000),
                    _ => 1 + rng.below(70_000),
                })
                .collect();
            let (events, error) = decode_in_reads(&mut decoder, &wire, &sizes);
            assert_eq!(error, None, "case {case} {send:?}");
            assert_eq!(events.len(), expected.len(), "case {case} {send:?}");
            for (got, want) in events.iter().zip(&expected) {
                assert!(got == want, "case {case} {send:?}: a message differs");
            }
            assert!(decoder.is_idle(), "case {case}");
        }
    }
}

/// Random bytes, and random mutations of valid traffic, never panic the decoder; it
/// either decodes or refuses.
#[test]
fn property_garbage_never_panics() {
    let (params, config) = deflate_pair(true);
    for case in 0..300u64 {
        let mut rng = Rng(0xbad_0000 + case);
        let mut c = Encoder::new(Role::Client, Some((&params, &config)));
        let mut wire = Vec::new();
        for _ in 0..3 {
            c.fragmented(&random_message(&mut rng), 1 + rng.below(300), &mut wire);
        }
        for _ in 0..1 + rng.below(8) {
            if wire.is_empty() {
                break;
            }
            let at = rng.below(wire.len());
            wire[at] ^= 1 << rng.below(8);
        }
        let limits = Limits {
            max_frame: 1 << 16,
            max_message: 1 << 17,
        };
        let mut d = Decoder::new(Role::Server, limits, Some(&params));
        let _ = decode_in_reads(&mut d, &wire, &[1 + rng.below(500)]);
    }
}
