//! The receiving half: bytes in, in pieces of any size, messages and control frames out.
//!
//! Payload is processed as it arrives, so the only bytes kept between two calls are a
//! header cut short (at most 14) and the message being assembled; nothing is reserved
//! from a declared length. A text message is validated as its bytes arrive and fails at
//! the first byte that cannot be UTF-8, whether the message is cut into frames, the
//! frames into reads, or compressed.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::close::parse_close;
use super::deflate::Inflater;
use super::error::ProtocolError;
use super::frame::{Header, OpCode, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::negotiate::DeflateParams;
use super::Role;
use crate::message::Message;
use crate::utf8::Utf8Bytes;

/// The limits a decoder enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame payload, as sent (compressed, if it is).
    pub max_frame: usize,
    /// The largest message, reassembled and decompressed.
    pub max_message: usize,
}

/// What the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text or binary message.
    Message(Message),
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: its code and reason, if it had a body. Nothing after it is decoded.
    Close(Option<(u16, String)>),
}

/// The frame whose payload is arriving.
#[derive(Debug)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    remaining: u64,
    /// Payload bytes seen so far (the mask's phase).
    seen: usize,
}

/// A data message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// `data[..valid]` is known to be UTF-8 (text only).
    valid: usize,
}

/// Decodes one connection's incoming bytes. Sans-IO: the caller reads, this parses.
///
/// ```
/// use std::ops::ControlFlow;
/// use wsview::engine::{Decoder, Event, Limits, Role};
/// use wsview::Message;
///
/// let mut decoder = Decoder::new(Role::Server, Limits { max_frame: 1 << 20, max_message: 1 << 20 }, None);
/// // RFC 6455 §5.7: a masked "Hello", arriving in two reads.
/// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut events = Vec::new();
/// for read in [&frame[..4], &frame[4..]] {
///     decoder.decode(read, |e| { events.push(e); ControlFlow::Continue(()) }).unwrap();
/// }
/// assert_eq!(events, [Event::Message(Message::from("Hello"))]);
/// ```
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    limits: Limits,
    inflater: Option<Inflater>,
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    frame: Option<Frame>,
    control: Vec<u8>,
    message: Option<Partial>,
    /// A close arrived or the peer erred: input is no longer decoded.
    done: bool,
}

impl Decoder {
    /// A decoder for `role` (a server expects masked frames), with permessage-deflate if
    /// it was negotiated.
    pub fn new(role: Role, limits: Limits, deflate: Option<&DeflateParams>) -> Self {
        let inflater = deflate.map(|p| match role {
            Role::Server => Inflater::new(p.client_max_window_bits, !p.client_no_context_takeover),
            Role::Client => Inflater::new(p.server_max_window_bits, !p.server_no_context_takeover),
        });
        Decoder {
            role,
            limits,
            inflater,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            frame: None,
            control: Vec::new(),
            message: None,
            done: false,
        }
    }

    /// Decodes `input`, handing each event to `on` until it returns `Break`. Returns how
    /// many bytes were consumed: all of them, unless `on` broke off or a close frame
    /// ended the input; the caller passes the rest again later. An error fails the
    /// connection (send a close with [`ProtocolError::close_code`]); events before it
    /// have been handed out.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut on: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<usize, ProtocolError> {
        let result = self.decode_inner(input, &mut on);
        if result.is_err() {
            self.done = true;
            self.message = None;
            if let Some(inflater) = &mut self.inflater {
                inflater.release();
            }
        }
        result
    }

    /// Whether nothing is held between reads: no partial header, frame or message.
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.frame.is_none() && self.message.is_none()
    }

    /// Whether a close frame arrived or the peer erred: nothing more will be decoded.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether this connection holds an inflate state now (with client context takeover,
    /// from its first compressed message on).
    pub fn holds_zlib_state(&self) -> bool {
        self.inflater.as_ref().is_some_and(Inflater::holds_state)
    }

    fn decode_inner(
        &mut self,
        input: &[u8],
        on: &mut impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<usize, ProtocolError> {
        let mut pos = 0;
        while !self.done {
            if self.frame.is_none() {
                if pos == input.len() {
                    break;
                }
                let Some(header) = self.header(input, &mut pos)? else {
                    break; // the header continues in the next read
                };
                self.start_frame(header)?;
            }
            let Some(frame) = &self.frame else {
                continue;
            };
            let available = (input.len() - pos) as u64;
            let n = frame.remaining.min(available) as usize;
            if n > 0 {
                self.payload(&input[pos..pos + n])?;
                pos += n;
            }
            match &self.frame {
                Some(f) if f.remaining == 0 => {
                    if let Some(event) = self.finish_frame()? {
                        if on(event).is_break() {
                            break;
                        }
                    }
                }
                _ => break, // the payload continues in the next read
            }
        }
        Ok(pos)
    }

    /// A whole header from the saved bytes and `input`, or `None` with everything saved.
    fn header(&mut self, input: &[u8], pos: &mut usize) -> Result<Option<Header>, ProtocolError> {
        let rest = &input[*pos..];
        if self.head_len == 0 {
            if let Some((header, used)) = Header::parse(rest)? {
                *pos += used;
                return Ok(Some(header));
            }
            // Shorter than a header, so it fits.
            self.head[..rest.len()].copy_from_slice(rest);
            self.head_len = rest.len();
            *pos = input.len();
            return Ok(None);
        }
        let take = (MAX_HEADER_LEN - self.head_len).min(rest.len());
        self.head[self.head_len..self.head_len + take].copy_from_slice(&rest[..take]);
        match Header::parse(&self.head[..self.head_len + take])? {
            Some((header, used)) => {
                *pos += used - self.head_len;
                self.head_len = 0;
                Ok(Some(header))
            }
            None => {
                self.head_len += take;
                *pos += take;
                Ok(None)
            }
        }
    }

    fn start_frame(&mut self, h: Header) -> Result<(), ProtocolError> {
        if h.mask.is_some() != (self.role == Role::Server) {
            return Err(ProtocolError::Masking);
        }
        if h.rsv1 {
            if self.inflater.is_none() {
                return Err(ProtocolError::ReservedBits);
            }
            if h.opcode.is_control() || h.opcode == OpCode::Continuation {
                return Err(ProtocolError::CompressedBitMisplaced);
            }
        }
        if h.len > self.limits.max_frame as u64 {
            return Err(ProtocolError::FrameTooLarge {
                len: h.len,
                max: self.limits.max_frame,
            });
        }
        match h.opcode {
            OpCode::Continuation => {
                let Some(m) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                if !m.compressed && m.data.len() as u64 + h.len > self.limits.max_message as u64 {
                    return Err(ProtocolError::MessageTooLarge {
                        max: self.limits.max_message,
                    });
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if !h.rsv1 && h.len > self.limits.max_message as u64 {
                    return Err(ProtocolError::MessageTooLarge {
                        max: self.limits.max_message,
                    });
                }
                self.message = Some(Partial {
                    text: h.opcode == OpCode::Text,
                    compressed: h.rsv1,
                    data: Vec::new(),
                    valid: 0,
                });
            }
            // At most 125 bytes: reserving the declared length is harmless.
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                self.control = Vec::with_capacity(h.len as usize);
            }
        }
        self.frame = Some(Frame {
            opcode: h.opcode,
            fin: h.fin,
            mask: h.mask,
            remaining: h.len,
            seen: 0,
        });
        Ok(())
    }

    fn payload(&mut self, chunk: &[u8]) -> Result<(), ProtocolError> {
        let Some(frame) = &mut self.frame else {
            return Ok(());
        };
        let (mask, seen) = (frame.mask, frame.seen);
        frame.seen += chunk.len();
        frame.remaining -= chunk.len() as u64;
        let last = frame.remaining == 0 && frame.fin;
        if frame.opcode.is_control() {
            let start = self.control.len();
            self.control.extend_from_slice(chunk);
            if let Some(key) = mask {
                apply_mask(&mut self.control[start..], key, seen);
            }
            return Ok(());
        }
        let Some(m) = &mut self.message else {
            return Ok(());
        };
        if m.compressed {
            let inflater = self.inflater.as_mut().ok_or(ProtocolError::ReservedBits)?;
            // Unmask through a small stack buffer: the input may be shared and read-only.
            let mut scratch = [0u8; 4096];
            let mut at = seen;
            for piece in chunk.chunks(scratch.len()) {
                let buf = &mut scratch[..piece.len()];
                buf.copy_from_slice(piece);
                if let Some(key) = mask {
                    apply_mask(buf, key, at);
                }
                at += piece.len();
                inflater.inflate(buf, &mut m.data, self.limits.max_message)?;
            }
        } else {
            let start = m.data.len();
            m.data.extend_from_slice(chunk);
            if let Some(key) = mask {
                apply_mask(&mut m.data[start..], key, seen);
            }
        }
        if m.text && !last {
            // Fail fast; a message whole in this read is validated once, at its end.
            match std::str::from_utf8(&m.data[m.valid..]) {
                Ok(_) => m.valid = m.data.len(),
                Err(e) if e.error_len().is_none() => m.valid += e.valid_up_to(),
                Err(_) => return Err(ProtocolError::InvalidUtf8),
            }
        }
        Ok(())
    }

    fn finish_frame(&mut self) -> Result<Option<Event>, ProtocolError> {
        let Some(frame) = self.frame.take() else {
            return Ok(None);
        };
        match frame.opcode {
            OpCode::Ping => Ok(Some(Event::Ping(Bytes::from(std::mem::take(
                &mut self.control,
            ))))),
            OpCode::Pong => Ok(Some(Event::Pong(Bytes::from(std::mem::take(
                &mut self.control,
            ))))),
            OpCode::Close => {
                let body = std::mem::take(&mut self.control);
                let close = parse_close(&body)?.map(|(code, reason)| (code, reason.to_owned()));
                self.done = true;
                Ok(Some(Event::Close(close)))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if !frame.fin {
                    return Ok(None);
                }
                let Some(mut m) = self.message.take() else {
                    return Ok(None);
                };
                if m.compressed {
                    if let Some(inflater) = &mut self.inflater {
                        inflater.finish(&mut m.data, self.limits.max_message)?;
                    }
                }
                let message = if m.text {
                    let text = String::from_utf8(m.data).map_err(|_| ProtocolError::InvalidUtf8)?;
                    Message::Text(Utf8Bytes::from(text))
                } else {
                    Message::Binary(Bytes::from(m.data))
                };
                Ok(Some(Event::Message(message)))
            }
        }
    }
}

#[cfg(test)]
impl Decoder {
    /// Bytes of buffer capacity held between reads (for tests of what is kept).
    pub(crate) fn held_capacity(&self) -> usize {
        self.control.capacity() + self.message.as_ref().map_or(0, |m| m.data.capacity())
    }
}
