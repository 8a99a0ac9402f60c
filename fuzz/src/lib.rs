//! What the fuzz targets run, kept apart from libFuzzer so that `cargo test` in this
//! crate (stable Rust) can replay a corpus or random inputs through the same code.

use std::ops::ControlFlow;

use wsview::engine::{negotiate, Decoder, DeflateConfig, Encoder, Event, Limits, Role};
use wsview::Message;

/// A configuration from one byte: role, deflate on or off, context takeover each way,
/// window bits, and small limits so that the size checks are reached.
fn setup(
    b: u8,
) -> (
    Role,
    Option<(wsview::engine::DeflateParams, DeflateConfig)>,
    Limits,
) {
    let role = if b & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let limits = Limits {
        max_frame: if b & 2 == 0 { 1 << 16 } else { 300 },
        max_message: if b & 2 == 0 { 1 << 18 } else { 1000 },
    };
    let deflate = (b & 4 != 0).then(|| {
        let mut config = DeflateConfig::default();
        config.server_context_takeover = b & 8 != 0;
        config.client_context_takeover = b & 16 != 0;
        config.server_max_window_bits = 9 + (b >> 5);
        config.client_max_window_bits = 9 + (b >> 5);
        config.threshold = 0;
        let (params, _) = negotiate(["permessage-deflate; client_max_window_bits"], &config)
            .expect("a plain offer is always acceptable");
        (params, config)
    });
    (role, deflate, limits)
}

/// Decodes arbitrary bytes, cut into reads: must refuse or decode, never panic, and
/// never hold more than the message limit.
pub fn decode(data: &[u8]) {
    let [config, chop, rest @ ..] = data else {
        return;
    };
    let (role, deflate, limits) = setup(*config);
    let mut decoder = Decoder::new(role, limits, deflate.as_ref().map(|(p, _)| p));
    let chop = usize::from(*chop) + 1;
    for read in rest.chunks(chop) {
        let mut total = 0usize;
        let result = decoder.decode(read, |e| {
            if let Event::Message(m) = &e {
                assert!(m.len() <= limits.max_message, "a message past the limit");
            }
            total += 1;
            ControlFlow::Continue(())
        });
        if result.is_err() || decoder.is_done() {
            return;
        }
    }
}

/// Encodes messages drawn from the input (with fragmentation and compression chosen by
/// it), decodes them from the other side in reads cut by it: every message must come
/// back equal.
pub fn roundtrip(data: &[u8]) {
    let [config, chop, frag, rest @ ..] = data else {
        return;
    };
    let (role, deflate, _) = setup(*config);
    let limits = Limits {
        max_frame: usize::MAX,
        max_message: usize::MAX,
    };
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let d = deflate.as_ref();
    let mut encoder = Encoder::new(peer, d.map(|(p, c)| (p, c)));
    let mut decoder = Decoder::new(role, limits, d.map(|(p, _)| p));
    // Messages: split the rest at 0xff bytes; odd-numbered ones as text when valid.
    let mut sent = Vec::new();
    let mut wire = Vec::new();
    for (i, piece) in rest.split(|b| *b == 0xff).enumerate() {
        let msg = match std::str::from_utf8(piece) {
            Ok(s) if i % 2 == 1 => Message::from(s),
            _ => Message::binary(piece.to_vec()),
        };
        encoder.fragmented(&msg, usize::from(*frag) + 1, &mut wire);
        sent.push(msg);
    }
    let mut got = Vec::new();
    for read in wire.chunks(usize::from(*chop) + 1) {
        decoder
            .decode(read, |e| {
                got.push(e);
                ControlFlow::Continue(())
            })
            .expect("our own frames decode");
    }
    let want: Vec<Event> = sent.into_iter().map(Event::Message).collect();
    assert!(got == want, "a message did not round-trip");
}

/// Arbitrary `Sec-WebSocket-Extensions` values: negotiation must not panic, and what it
/// answers must be an offer it would accept again with the same parameters.
pub fn negotiate_offers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let headers: Vec<&str> = text.split('\n').collect();
    let mut config = DeflateConfig::default();
    config.server_context_takeover = text.len() % 2 == 0;
    config.client_max_window_bits = 9 + (text.len() % 7) as u8;
    if let Some((params, response)) = negotiate(headers.iter().copied(), &config) {
        assert!((9..=15).contains(&params.server_max_window_bits));
        assert!((9..=15).contains(&params.client_max_window_bits));
        let (again, _) = negotiate([response.as_str()], &config).expect("our answer is acceptable");
        assert_eq!(again.server_max_window_bits, params.server_max_window_bits);
        assert_eq!(
            again.server_no_context_takeover,
            params.server_no_context_takeover
        );
        assert_eq!(
            again.client_no_context_takeover,
            params.client_no_context_takeover
        );
    }
}

#[cfg(test)]
mod tests {
    /// Replays random inputs through both targets on stable Rust.
    #[test]
    fn offers() {
        for text in [
            "permessage-deflate",
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits\nfoo",
            "x, permessage-deflate; client_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=\"12\"",
        ] {
            super::negotiate_offers(text.as_bytes());
        }
    }

    #[test]
    fn random_inputs() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for len in 0..2000usize {
            let data: Vec<u8> = (0..len % 700)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            super::decode(&data);
            super::roundtrip(&data);
            super::negotiate_offers(&data);
        }
    }
}
