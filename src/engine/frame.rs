//! Frame headers (RFC 6455 §5.2): parsing from bytes that may stop anywhere, and writing.

use super::error::ProtocolError;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// Continues a fragmented message.
    Continuation,
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl OpCode {
    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
        }
    }

    fn from_bits(bits: u8) -> Result<Self, ProtocolError> {
        Ok(match bits {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// Close, ping or pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The last frame of its message.
    pub fin: bool,
    /// RSV1: the message is compressed (permessage-deflate), on its first frame.
    pub rsv1: bool,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

/// The longest header: 2 bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

impl Header {
    /// Parses a header from the start of `buf`: `Ok(None)` if `buf` holds only part of
    /// one, else the header and how many bytes it took. RSV2 and RSV3 are refused here;
    /// whether RSV1 is allowed depends on the negotiated extensions, so the caller checks.
    ///
    /// ```
    /// use wsview::engine::{Header, OpCode};
    /// // RFC 6455 §5.7: a masked text frame, "Hello".
    /// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (header, used) = Header::parse(&frame).unwrap().unwrap();
    /// assert_eq!((header.opcode, header.len, used), (OpCode::Text, 5, 6));
    /// assert_eq!(Header::parse(&frame[..3]).unwrap(), None);
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let opcode = OpCode::from_bits(b0 & 0x0f)?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::BadLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let Some(b) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([b[0], b[1], b[2], b[3]])
        } else {
            None
        };
        if opcode.is_control() && (!fin || len > 125) {
            return Err(ProtocolError::BadControlFrame);
        }
        let header = Header {
            fin,
            rsv1: b0 & 0x40 != 0,
            opcode,
            mask,
            len,
        };
        Ok(Some((header, at)))
    }

    /// Appends this header to `out`, with the shortest length encoding.
    pub fn write(&self, out: &mut Vec<u8>) {
        let b0 = (u8::from(self.fin) << 7) | (u8::from(self.rsv1) << 6) | self.opcode.bits();
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        match self.len {
            n @ 0..=125 => out.extend_from_slice(&[b0, m | n as u8]),
            n @ 126..=0xffff => {
                out.extend_from_slice(&[b0, m | 126]);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.extend_from_slice(&[b0, m | 127]);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> Header {
        Header {
            fin: true,
            rsv1: false,
            opcode,
            mask,
            len,
        }
    }

    #[test]
    fn round_trips_every_length_encoding_and_is_incomplete_until_the_last_byte() {
        for len in [0, 1, 125, 126, 127, 0xffff, 0x1_0000, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = header(OpCode::Binary, len, mask);
                let mut out = Vec::new();
                h.write(&mut out);
                for cut in 0..out.len() {
                    assert_eq!(Header::parse(&out[..cut]), Ok(None), "len {len} cut {cut}");
                }
                assert_eq!(Header::parse(&out), Ok(Some((h, out.len()))));
            }
        }
    }

    #[test]
    fn shortest_encoding() {
        let mut out = Vec::new();
        header(OpCode::Text, 125, None).write(&mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        header(OpCode::Text, 126, None).write(&mut out);
        assert_eq!(out.len(), 4);
        out.clear();
        header(OpCode::Text, 0x1_0000, Some([0; 4])).write(&mut out);
        assert_eq!(out.len(), 14);
    }

    #[test]
    fn refuses_what_rfc_6455_forbids() {
        assert_eq!(Header::parse(&[0xa1, 0]), Err(ProtocolError::ReservedBits));
        assert_eq!(Header::parse(&[0x91, 0]), Err(ProtocolError::ReservedBits));
        for op in [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
            assert_eq!(
                Header::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
        // A ping that is not final, and one longer than 125 bytes.
        assert_eq!(
            Header::parse(&[0x09, 0]),
            Err(ProtocolError::BadControlFrame)
        );
        assert_eq!(
            Header::parse(&[0x89, 126, 0, 126]),
            Err(ProtocolError::BadControlFrame)
        );
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(Header::parse(&huge), Err(ProtocolError::BadLength));
        // RSV1 is reported, not refused: the decoder knows whether deflate is on.
        let (h, _) = Header::parse(&[0xc1, 0]).unwrap().unwrap();
        assert!(h.rsv1);
    }
}
