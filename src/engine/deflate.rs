//! permessage-deflate's data path (RFC 7692 §7.2): compressing a message, inflating one
//! with its size capped, and where the zlib states live.
//!
//! A side that keeps its context ("context takeover") owns its zlib state for the
//! connection's life, created on its first compressed message. A side that resets after
//! every message borrows a state from a per-thread pool for the length of one message
//! (an inflate spanning several reads keeps it until the message ends), so an idle
//! connection without context takeover holds no zlib memory at all.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::error::ProtocolError;

/// The bytes every compressed message's deflate stream ends with, which the sender strips
/// and the receiver appends again (RFC 7692 §7.2.1-2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// States kept per thread beyond this many are dropped on return.
const POOL_MAX: usize = 4;

thread_local! {
    static DEFLATERS: RefCell<Vec<(u32, u8, Box<Compress>)>> = const { RefCell::new(Vec::new()) };
    static INFLATERS: RefCell<Vec<(u8, Box<Decompress>)>> = const { RefCell::new(Vec::new()) };
}

fn take_deflater(level: u32, bits: u8) -> Box<Compress> {
    DEFLATERS
        .with(|pool| {
            let mut pool = pool.borrow_mut();
            let at = pool
                .iter()
                .position(|(l, b, _)| *l == level && *b == bits)?;
            Some(pool.swap_remove(at).2)
        })
        .unwrap_or_else(|| {
            Box::new(Compress::new_with_window_bits(
                Compression::new(level),
                false,
                bits,
            ))
        })
}

fn return_deflater(level: u32, bits: u8, mut state: Box<Compress>) {
    state.reset();
    DEFLATERS.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_MAX {
            pool.push((level, bits, state));
        }
    });
}

fn take_inflater(bits: u8) -> Box<Decompress> {
    INFLATERS
        .with(|pool| {
            let mut pool = pool.borrow_mut();
            let at = pool.iter().position(|(b, _)| *b == bits)?;
            Some(pool.swap_remove(at).1)
        })
        .unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, bits)))
}

fn return_inflater(bits: u8, mut state: Box<Decompress>) {
    state.reset(false);
    INFLATERS.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_MAX {
            pool.push((bits, state));
        }
    });
}

/// Compresses outgoing messages for one connection.
pub(crate) struct Deflater {
    level: u32,
    bits: u8,
    takeover: bool,
    /// The connection's own state, with context takeover, from its first message on.
    own: Option<Box<Compress>>,
}

impl Deflater {
    /// `bits`: the LZ77 window (9-15); `takeover`: keep the context between messages.
    pub(crate) fn new(level: u32, bits: u8, takeover: bool) -> Self {
        Deflater {
            level: level.min(9),
            bits: bits.clamp(9, 15),
            takeover,
            own: None,
        }
    }

    /// Appends `data` compressed, without the stream's final 4 bytes, to `out`.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.takeover {
            let (level, bits) = (self.level, self.bits);
            let state = self.own.get_or_insert_with(|| {
                Box::new(Compress::new_with_window_bits(
                    Compression::new(level),
                    false,
                    bits,
                ))
            });
            if deflate_into(state, data, out).is_err() {
                // Cannot happen with a valid state; start afresh rather than fail.
                self.own = None;
            }
        } else {
            let mut state = take_deflater(self.level, self.bits);
            let _ = deflate_into(&mut state, data, out);
            return_deflater(self.level, self.bits, state);
        }
    }

    /// Whether the connection owns zlib memory now.
    pub(crate) fn holds_state(&self) -> bool {
        self.own.is_some()
    }
}

/// Compresses `data` with a sync flush and strips the flush's empty block marker.
fn deflate_into(state: &mut Compress, data: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let start = out.len();
    let mut input = data;
    // Text usually shrinks; grow if it does not.
    out.reserve(data.len() / 2 + 64);
    loop {
        // Room for more than the 5-byte flush marker, or zlib may repeat it.
        if out.capacity() - out.len() < 16 {
            out.reserve((out.len() - start).max(256));
        }
        let before = state.total_in();
        state
            .compress_vec(input, out, FlushCompress::Sync)
            .map_err(|_| ())?;
        let used = usize::try_from(state.total_in() - before).map_err(|_| ())?;
        input = &input[used..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if out[start..].ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    if out.len() == start {
        // zlib writes nothing for an empty input right after a flush: send the empty
        // block RFC 7692 §7.2.3.6 shows instead, so the receiver has a block to end.
        out.push(0x00);
    }
    Ok(())
}

/// Inflates incoming compressed messages for one connection.
pub(crate) struct Inflater {
    bits: u8,
    takeover: bool,
    /// Owned for the connection's life with context takeover; otherwise borrowed from
    /// the pool while a message is being inflated.
    state: Option<Box<Decompress>>,
    /// The peer ended its deflate stream (BFINAL) inside this message.
    ended: bool,
    /// Some payload of this message has been inflated.
    fed: bool,
}

impl Inflater {
    /// `bits`: the largest window the peer may use (9-15); `takeover`: the peer keeps
    /// its context between messages.
    pub(crate) fn new(bits: u8, takeover: bool) -> Self {
        Inflater {
            bits: bits.clamp(9, 15),
            takeover,
            state: None,
            ended: false,
            fed: false,
        }
    }

    /// Inflates the next piece of a compressed message's payload onto `out`, failing once
    /// `out` would pass `limit` bytes: `out` never grows beyond `limit + 1`.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if input.is_empty() {
            return Ok(());
        }
        if self.ended {
            return Err(ProtocolError::BadDeflate(
                "data after the final block".into(),
            ));
        }
        let bits = self.bits;
        let state = self.state.get_or_insert_with(|| take_inflater(bits));
        self.fed = true;
        let ended = inflate_into(state, input, out, limit)?;
        self.ended = ended;
        Ok(())
    }

    /// Ends a message: inflates the stripped tail, and resets (giving the state back to
    /// the pool) when the peer does not keep its context.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let result = if !self.fed {
            // An empty payload: be lenient with senders that skip the empty block.
            Ok(())
        } else if self.ended {
            // The stream ended inside the message: the next starts a new one.
            if let Some(state) = &mut self.state {
                state.reset(false);
            }
            Ok(())
        } else {
            let bits = self.bits;
            let state = self.state.get_or_insert_with(|| take_inflater(bits));
            inflate_into(state, &TAIL, out, limit).map(|_| ())
        };
        self.ended = false;
        self.fed = false;
        if result.is_err() || !self.takeover {
            self.release();
        }
        result
    }

    /// Gives the state back (after an error, or a message end without context takeover).
    pub(crate) fn release(&mut self) {
        self.ended = false;
        self.fed = false;
        if let Some(state) = self.state.take() {
            return_inflater(self.bits, state);
        }
    }

    /// Whether the connection holds zlib memory now.
    pub(crate) fn holds_state(&self) -> bool {
        self.state.is_some()
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("bits", &self.bits)
            .field("takeover", &self.takeover)
            .field("holds_state", &self.holds_state())
            .finish()
    }
}

/// Inflates `input` onto `out` (capped at `limit + 1` bytes of capacity). Returns whether
/// the deflate stream ended.
fn inflate_into(
    state: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, ProtocolError> {
    let too_large = || ProtocolError::MessageTooLarge { max: limit };
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(too_large());
            }
            // Double, from a guess at the ratio, never past the limit.
            let want = out.len().max(input.len() * 4).max(1024);
            out.reserve_exact(want.min(limit.saturating_add(1) - out.len()));
        }
        let (in0, out0) = (state.total_in(), state.total_out());
        let status = state
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|e| ProtocolError::BadDeflate(e.to_string()))?;
        if out.len() > limit {
            return Err(too_large());
        }
        let used = usize::try_from(state.total_in() - in0).unwrap_or(usize::MAX);
        input = input.get(used..).unwrap_or_default();
        let produced = state.total_out() - out0;
        match status {
            Status::StreamEnd if input.is_empty() => return Ok(true),
            Status::StreamEnd => {
                return Err(ProtocolError::BadDeflate(
                    "data after the final block".into(),
                ))
            }
            _ => {}
        }
        // Done once all input is in and inflate stopped short of filling the output.
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(false);
        }
        if used == 0 && produced == 0 && out.len() < out.capacity() {
            return Err(ProtocolError::BadDeflate("no progress".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(d: &mut Deflater, i: &mut Inflater, msg: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        d.compress(msg, &mut wire);
        let mut out = Vec::new();
        i.inflate(&wire, &mut out, usize::MAX - 1).unwrap();
        i.finish(&mut out, usize::MAX - 1).unwrap();
        out
    }

    #[test]
    fn round_trips_with_and_without_context_takeover() {
        let json = br#"{"user":"ada","action":"move","x":12,"y":-3,"tags":["a","b"]}"#.repeat(20);
        for takeover in [false, true] {
            for bits in 9..=15 {
                let mut d = Deflater::new(6, bits, takeover);
                let mut i = Inflater::new(bits, takeover);
                for _ in 0..3 {
                    assert_eq!(roundtrip(&mut d, &mut i, &json), json);
                    assert_eq!(roundtrip(&mut d, &mut i, b""), b"");
                }
                assert_eq!(d.holds_state(), takeover);
                assert_eq!(i.holds_state(), takeover);
            }
        }
    }

    #[test]
    fn context_takeover_shrinks_repeated_messages() {
        let msg = br#"{"user":"ada","action":"move","x":12,"y":-3}"#;
        let mut with = Deflater::new(6, 15, true);
        let mut without = Deflater::new(6, 15, false);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        with.compress(msg, &mut a);
        a.clear();
        with.compress(msg, &mut a);
        without.compress(msg, &mut b);
        assert!(a.len() * 2 < b.len(), "{} vs {}", a.len(), b.len());
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        let mut wire = Vec::new();
        Deflater::new(9, 15, false).compress(&zeros, &mut wire);
        assert!(wire.len() < 16 << 10, "{}", wire.len());
        let mut inflater = Inflater::new(15, false);
        let mut out = Vec::new();
        let limit = 64 << 10;
        let err = inflater.inflate(&wire, &mut out, limit).unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { max: limit });
        assert!(out.capacity() <= limit + 1, "{}", out.capacity());
        inflater.release();
    }

    #[test]
    fn garbage_does_not_inflate() {
        let mut inflater = Inflater::new(15, false);
        let mut out = Vec::new();
        let err = inflater
            .inflate(&[0xff; 32], &mut out, 1 << 20)
            .unwrap_err();
        assert_eq!(err.close_code(), 1007);
    }

    #[test]
    fn pieces_inflate_like_the_whole() {
        let text = "Habe nun, ach! Philosophie, Juristerei und Medizin ".repeat(200);
        let mut wire = Vec::new();
        Deflater::new(6, 15, false).compress(text.as_bytes(), &mut wire);
        for piece in [1, 7, 100] {
            let mut i = Inflater::new(15, false);
            let mut out = Vec::new();
            for chunk in wire.chunks(piece) {
                i.inflate(chunk, &mut out, 1 << 20).unwrap();
            }
            i.finish(&mut out, 1 << 20).unwrap();
            assert_eq!(out, text.as_bytes());
        }
    }
}
