//! What a peer can do wrong, and the close code each answer carries (RFC 6455 §7.4.1).

use std::fmt;

/// A violation by the peer. The connection is failed with [`close_code`](Self::close_code).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV2 or RSV3 set, or RSV1 without a negotiated extension that gives it a meaning.
    ReservedBits,
    /// RSV1 on a control frame or a continuation frame (RFC 7692 §6.1).
    CompressedBitMisplaced,
    /// An opcode RFC 6455 reserves (3-7, 11-15).
    ReservedOpcode(u8),
    /// A client frame without a mask, or a server frame with one (§5.1).
    Masking,
    /// A control frame that is fragmented or longer than 125 bytes (§5.5).
    BadControlFrame,
    /// A 64-bit length with its most significant bit set (§5.2).
    BadLength,
    /// A continuation frame with no message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    ExpectedContinuation,
    /// A close frame whose body is one byte long.
    BadClosePayload,
    /// A close code no endpoint may send (§7.4).
    BadCloseCode(u16),
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A frame longer than the frame limit.
    FrameTooLarge {
        /// Its declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message that grew past the message limit (after decompression).
    MessageTooLarge {
        /// The limit.
        max: usize,
    },
    /// A compressed message that does not inflate.
    BadDeflate(String),
}

impl ProtocolError {
    /// The close code to fail the connection with: 1009 for sizes, 1007 for bad data,
    /// 1002 for the rest.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => 1009,
            ProtocolError::InvalidUtf8 | ProtocolError::BadDeflate(_) => 1007,
            _ => 1002,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::CompressedBitMisplaced => {
                f.write_str("compressed bit on a control or continuation frame")
            }
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op}"),
            ProtocolError::Masking => f.write_str("frame masking does not match the role"),
            ProtocolError::BadControlFrame => {
                f.write_str("control frame fragmented or longer than 125 bytes")
            }
            ProtocolError::BadLength => f.write_str("frame length out of range"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame with no message to continue")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new message while a fragmented one is unfinished")
            }
            ProtocolError::BadClosePayload => f.write_str("close frame body of one byte"),
            ProtocolError::BadCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message"),
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooLarge { max } => {
                write!(f, "message exceeds the limit of {max} bytes")
            }
            ProtocolError::BadDeflate(why) => {
                write!(f, "compressed message does not inflate: {why}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}
