//! TLS for the server (cargo feature `tls`): the certificate and key a server presents,
//! loaded into a rustls configuration with an explicit crypto provider, and the errors
//! loading them can give. The handshake itself runs in `conn.rs`, inside each
//! connection's task.

pub(crate) mod config;
pub(crate) mod error;
