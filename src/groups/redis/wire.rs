//! The bytes one group send is published as: a fixed header, then the payload as is.
//!
//! ```text
//! 0      version (1)
//! 1      flags: bit 0 binary (else text), bit 1 an `except` id follows
//! 2..10  origin: the sending layer's id (u64, big-endian)
//! 10..26 except ConnectionId (u128, big-endian), only with flag bit 1
//! ..     payload
//! ```
//! The target is not in the bytes: it is the channel the message was published on.
//!
//! The origin is the sending *layer*, a random id per [`RedisLayer`](super::RedisLayer):
//! one per process in a deployment, but several when a test runs several registries in
//! one process, where `NodeId::local()` would be the same for all of them. A received
//! envelope's `origin` is that id, so it never equals the receiving process's own.

use std::fmt;

use bytes::{BufMut, Bytes};

use crate::groups::{ConnectionId, Envelope, NodeId, Target};
use crate::message::Message;
use crate::utf8::Utf8Bytes;

const VERSION: u8 = 1;
const BINARY: u8 = 1;
const EXCEPT: u8 = 2;
const HEADER: usize = 10;

/// A message larger than the layer's
/// [`max_message_bytes`](super::RedisConfig::max_message_bytes): refused before it is
/// published (the source of the [`LayerError`](crate::groups::LayerError) returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTooLarge {
    /// The message's payload size in bytes.
    pub size: usize,
    /// The configured limit.
    pub limit: usize,
}

impl fmt::Display for MessageTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message of {} bytes is over the redis layer's limit of {} bytes",
            self.size, self.limit
        )
    }
}

impl std::error::Error for MessageTooLarge {}

/// Encodes `envelope` as sent by the layer `origin`.
pub(super) fn encode(
    envelope: &Envelope,
    origin: u64,
    limit: usize,
) -> Result<Vec<u8>, MessageTooLarge> {
    let payload = envelope.message.as_bytes();
    if payload.len() > limit {
        return Err(MessageTooLarge {
            size: payload.len(),
            limit,
        });
    }
    let mut flags = 0;
    if envelope.message.is_binary() {
        flags |= BINARY;
    }
    if envelope.except.is_some() {
        flags |= EXCEPT;
    }
    let mut out = Vec::with_capacity(HEADER + 16 + payload.len());
    out.put_u8(VERSION);
    out.put_u8(flags);
    out.put_u64(origin);
    if let Some(except) = envelope.except {
        out.put_u128(except.to_u128());
    }
    out.put_slice(payload);
    Ok(out)
}

/// Bytes that are not a send of this format (another program on the channel, a newer
/// version, text that is not UTF-8).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed(&'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Decodes the bytes published on a channel that targets `target`; the payload is
/// shared with `bytes`, not copied.
pub(super) fn decode(bytes: Bytes, target: Target) -> Result<Envelope, Malformed> {
    if bytes.len() < HEADER {
        return Err(Malformed("shorter than the header"));
    }
    if bytes[0] != VERSION {
        return Err(Malformed("unknown version"));
    }
    let flags = bytes[1];
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[2..10]);
    let origin = NodeId::from_u64(u64::from_be_bytes(b));
    let mut at = HEADER;
    let except = if flags & EXCEPT != 0 {
        if bytes.len() < at + 16 {
            return Err(Malformed("except id cut short"));
        }
        let mut b = [0u8; 16];
        b.copy_from_slice(&bytes[at..at + 16]);
        at += 16;
        Some(ConnectionId::from_u128(u128::from_be_bytes(b)))
    } else {
        None
    };
    let payload = bytes.slice(at..);
    let message = if flags & BINARY != 0 {
        Message::Binary(payload)
    } else {
        Message::Text(Utf8Bytes::try_from(payload).map_err(|_| Malformed("text is not UTF-8"))?)
    };
    Ok(Envelope {
        target,
        except,
        message,
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(message: Message, except: Option<ConnectionId>) -> Envelope {
        Envelope {
            target: Target::Group("room".into()),
            except,
            message,
            origin: NodeId::from_u64(0xabcd),
        }
    }

    #[test]
    fn round_trip_text_and_binary_with_and_without_except() {
        let except = ConnectionId::from_u128(u128::MAX - 5);
        for (message, except) in [
            (Message::text("héllo"), None),
            (Message::text(""), Some(except)),
            (Message::binary(vec![0u8, 1, 255]), Some(except)),
            (Message::binary(Vec::new()), None),
        ] {
            let bytes = encode(&envelope(message.clone(), except), 42, 1024).unwrap();
            assert_eq!(bytes.len(), 10 + except.map_or(0, |_| 16) + message.len());
            let back = decode(Bytes::from(bytes), Target::All).unwrap();
            assert_eq!(back.origin, NodeId::from_u64(42), "the sending layer");
            assert_eq!(back.message, message);
            assert_eq!(back.except, except);
            assert_eq!(back.target, Target::All);
        }
    }

    #[test]
    fn size_limit_is_on_the_payload() {
        let e = envelope(Message::binary(vec![0u8; 11]), None);
        assert!(encode(&e, 1, 11).is_ok());
        let err = encode(&e, 1, 10).unwrap_err();
        assert_eq!(
            err,
            MessageTooLarge {
                size: 11,
                limit: 10
            }
        );
        assert_eq!(
            err.to_string(),
            "message of 11 bytes is over the redis layer's limit of 10 bytes"
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let t = || Target::All;
        assert!(decode(Bytes::from_static(b""), t()).is_err());
        assert!(decode(Bytes::from_static(&[1u8; 9]), t()).is_err());
        let mut v = vec![2u8, 0];
        v.extend_from_slice(&[0; 8]);
        assert_eq!(
            decode(Bytes::from(v), t()).unwrap_err(),
            Malformed("unknown version")
        );
        let mut v = vec![1u8, EXCEPT];
        v.extend_from_slice(&[0; 20]);
        assert!(decode(Bytes::from(v), t()).is_err());
        let mut v = vec![1u8, 0];
        v.extend_from_slice(&[0; 8]);
        v.push(0xff);
        assert_eq!(
            decode(Bytes::from(v), t()).unwrap_err(),
            Malformed("text is not UTF-8")
        );
    }
}
