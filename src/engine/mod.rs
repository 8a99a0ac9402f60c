//! wsview's WebSocket protocol engine: a sans-IO codec for RFC 6455 frames and RFC 7692
//! permessage-deflate. The caller reads and writes the socket; a [`Decoder`] turns the
//! bytes read into [`Event`]s, an [`Encoder`] turns messages into bytes to write, and
//! [`negotiate`] picks the compression parameters from a client's offers.
//!
//! What it guarantees, whatever the peer sends:
//!
//! - no allocation is sized by a declared length before the bytes arrive: a message
//!   grows with its payload, a compressed one with its inflated output, and neither
//!   passes its limit by more than a byte;
//! - a text message fails at the first byte that cannot be UTF-8, across fragments,
//!   reads and compression;
//! - an idle connection holds no buffer here (a header cut short costs at most 14
//!   bytes); without context takeover, zlib states are borrowed per message from a
//!   per-thread pool.
//!
//! A round trip, client to server, with compression:
//!
//! ```
//! use std::ops::ControlFlow;
//! use wsview::engine::{negotiate, Decoder, DeflateConfig, Encoder, Event, Limits, Role};
//! use wsview::Message;
//!
//! let config = DeflateConfig::default();
//! let (params, _response) = negotiate(["permessage-deflate"], &config).unwrap();
//! let limits = Limits { max_frame: 1 << 20, max_message: 1 << 20 };
//! let mut client = Encoder::new(Role::Client, Some((&params, &config)));
//! let mut server = Decoder::new(Role::Server, limits, Some(&params));
//!
//! let text = "to be or not to be, ".repeat(50);
//! let mut wire = Vec::new();
//! client.message(&Message::from(text.as_str()), &mut wire);
//! assert!(wire.len() < text.len() / 4);
//! let mut got = Vec::new();
//! server.decode(&wire, |e| { got.push(e); ControlFlow::Continue(()) }).unwrap();
//! assert_eq!(got, [Event::Message(Message::from(text))]);
//! ```

mod close;
pub(crate) mod decoder;
mod deflate;
mod encoder;
mod error;
mod frame;
mod mask;
pub(crate) mod negotiate;
pub(crate) mod stream;

#[cfg(test)]
mod tests;

pub use close::{close_code_allowed, close_payload, parse_close};
pub use decoder::{Decoder, Event, Limits};
pub use encoder::Encoder;
pub use error::ProtocolError;
pub use frame::{Header, OpCode, MAX_HEADER_LEN};
pub use mask::apply_mask;
pub use negotiate::{negotiate, DeflateConfig, DeflateParams};

/// Which end of the connection a codec serves: clients mask what they send, servers
/// require it of what they receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The accepting end.
    Server,
    /// The connecting end.
    Client,
}
