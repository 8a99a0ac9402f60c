//! The sending half: messages and control frames into bytes, appended to the caller's
//! write buffer (so frames queued together leave in one write).

use std::cell::RefCell;

use super::close::close_payload;
use super::deflate::Deflater;
use super::frame::{Header, OpCode};
use super::mask::apply_mask;
use super::negotiate::{DeflateConfig, DeflateParams};
use super::Role;
use crate::message::Message;

thread_local! {
    /// Compressed payloads are built here first: the header needs their length.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Payloads from this size on are written from the message's bytes (a vectored write),
/// not copied into the write buffer.
const SHARE_MIN: usize = 2048;

/// A scratch buffer larger than this is not kept for the next message.
const SCRATCH_KEEP: usize = 256 << 10;

/// Encodes one connection's outgoing frames.
///
/// ```
/// use wsview::engine::{Encoder, Role};
/// let mut encoder = Encoder::new(Role::Server, None);
/// let mut out = Vec::new();
/// encoder.message(&"Hello".into(), &mut out);
/// assert_eq!(out, b"\x81\x05Hello");
/// ```
pub struct Encoder {
    role: Role,
    deflater: Option<Deflater>,
    threshold: usize,
    /// xorshift state for client masks (tests and tools; a server never masks).
    seed: u32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("role", &self.role)
            .field("compressing", &self.deflater.is_some())
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl Encoder {
    /// An encoder for `role` (a client masks its frames), compressing messages of at
    /// least `config.threshold` bytes when permessage-deflate was negotiated.
    pub fn new(role: Role, deflate: Option<(&DeflateParams, &DeflateConfig)>) -> Self {
        let (deflater, threshold) = match deflate {
            Some((p, config)) => {
                let (bits, no_takeover) = match role {
                    Role::Server => (p.server_max_window_bits, p.server_no_context_takeover),
                    Role::Client => (p.client_max_window_bits, p.client_no_context_takeover),
                };
                (
                    Some(Deflater::new(config.level, bits, !no_takeover)),
                    config.threshold,
                )
            }
            None => (None, usize::MAX),
        };
        Encoder {
            role,
            deflater,
            threshold,
            seed: 0x9e37_79b9,
        }
    }

    /// Seeds the client's masking keys (RFC 6455 wants them unpredictable; a client
    /// facing untrusted intermediaries should seed from a real source of randomness).
    pub fn seed_masks(&mut self, seed: u32) {
        self.seed = seed | 1;
    }

    /// Appends `msg` as one frame, compressed if it is large enough and deflate is on.
    pub fn message(&mut self, msg: &Message, out: &mut Vec<u8>) {
        self.fragmented(msg, usize::MAX, out);
    }

    /// Appends only the header of `msg`'s frame when its payload is better written from
    /// the message's own bytes than copied (large, unmasked, sent uncompressed); returns
    /// whether it did. Otherwise appends nothing.
    pub(crate) fn header_only(&mut self, msg: &Message, out: &mut Vec<u8>) -> bool {
        let len = msg.len();
        let compressing = self.deflater.is_some() && len >= self.threshold;
        if len < SHARE_MIN || compressing || self.role == Role::Client {
            return false;
        }
        Header {
            fin: true,
            rsv1: false,
            opcode: if msg.is_text() {
                OpCode::Text
            } else {
                OpCode::Binary
            },
            mask: None,
            len: len as u64,
        }
        .write(out);
        true
    }

    /// Appends `msg` cut into frames of at most `max_payload` bytes each (as sent, after
    /// compression); the first carries the opcode and the compressed bit.
    pub fn fragmented(&mut self, msg: &Message, max_payload: usize, out: &mut Vec<u8>) {
        let opcode = if msg.is_text() {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        let data = msg.as_bytes();
        let max_payload = max_payload.max(1);
        match self.deflater.take() {
            Some(mut deflater) if data.len() >= self.threshold => {
                SCRATCH.with(|scratch| {
                    let mut scratch = scratch.borrow_mut();
                    scratch.clear();
                    deflater.compress(data, &mut scratch);
                    self.frames(opcode, true, &scratch, max_payload, out);
                    if scratch.capacity() > SCRATCH_KEEP {
                        *scratch = Vec::new();
                    }
                });
                self.deflater = Some(deflater);
            }
            deflater => {
                self.deflater = deflater;
                self.frames(opcode, false, data, max_payload, out);
            }
        }
    }

    fn frames(
        &mut self,
        opcode: OpCode,
        compressed: bool,
        payload: &[u8],
        max_payload: usize,
        out: &mut Vec<u8>,
    ) {
        let mut chunks = payload.chunks(max_payload).peekable();
        if chunks.peek().is_none() {
            self.frame(true, compressed, opcode, &[], out);
            return;
        }
        let mut first = true;
        while let Some(chunk) = chunks.next() {
            let fin = chunks.peek().is_none();
            let op = if first { opcode } else { OpCode::Continuation };
            self.frame(fin, compressed && first, op, chunk, out);
            first = false;
        }
    }

    /// Appends a ping (payload cut to 125 bytes).
    pub fn ping(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        self.frame(
            true,
            false,
            OpCode::Ping,
            &payload[..payload.len().min(125)],
            out,
        );
    }

    /// Appends a pong (payload cut to 125 bytes).
    pub fn pong(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        self.frame(
            true,
            false,
            OpCode::Pong,
            &payload[..payload.len().min(125)],
            out,
        );
    }

    /// Appends a close frame: with `code` and `reason` (cut to fit), or empty.
    pub fn close(&mut self, code: Option<u16>, reason: &str, out: &mut Vec<u8>) {
        let body = code.map(|c| close_payload(c, reason)).unwrap_or_default();
        self.frame(true, false, OpCode::Close, &body, out);
    }

    /// Appends one frame exactly as given (for tests and tools that build odd frames).
    pub fn frame(
        &mut self,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        let mask = match self.role {
            Role::Server => None,
            Role::Client => Some(self.next_key()),
        };
        Header {
            fin,
            rsv1,
            opcode,
            mask,
            len: payload.len() as u64,
        }
        .write(out);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut out[start..], key, 0);
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.seed = x;
        x.to_ne_bytes()
    }

    /// Whether this connection holds a deflate state now (with server context takeover,
    /// from its first compressed message on).
    pub fn holds_zlib_state(&self) -> bool {
        self.deflater.as_ref().is_some_and(Deflater::holds_state)
    }
}
