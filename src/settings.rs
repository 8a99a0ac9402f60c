//! Settings: django-websocket's `WEBSOCKET_ACCEPT_ALL`, plus the limits and timeouts a
//! production server needs, with defaults safe for many idle connections.

use std::time::Duration;

/// Server-wide settings, set in code or read from the environment.
///
/// Every field has a safe default; change what you need:
///
/// ```
/// use std::time::Duration;
/// let mut settings = wsview::Settings::default();
/// settings.websocket_accept_all = true;
/// settings.max_message_size = 64 * 1024;
/// settings.close_timeout = Duration::from_secs(2);
/// let app = wsview::App::new().settings(settings);
/// # drop(app);
/// ```
///
/// Or from the environment, see [`Settings::from_env`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Every view accepts WebSocket requests, as if wrapped in
    /// [`accept_websocket`](crate::accept_websocket). django-websocket's
    /// `WEBSOCKET_ACCEPT_ALL`. Default `false`.
    pub websocket_accept_all: bool,
    /// The largest incoming message, in bytes, after reassembling fragments. A larger
    /// one closes the connection with 1009 (message too big). Default 1 MiB.
    pub max_message_size: usize,
    /// The largest incoming frame payload, in bytes. Default 1 MiB.
    pub max_frame_size: usize,
    /// The most bytes read from the socket at once; allocated per connection up front
    /// but not touched until the first message arrives, so a connection that stays idle
    /// does not keep it resident. tungstenite zero-fills this much before every read, so
    /// it is a speed setting too: larger costs more per small message, smaller costs
    /// more reads per large message (a 16 KiB message takes three reads at 8 KiB).
    /// Default 8 KiB.
    pub read_buffer_size: usize,
    /// Outgoing frames are gathered up to this many bytes before they are written
    /// early; everything queued is written when the view next waits. Default 64 KiB.
    pub write_buffer_size: usize,
    /// How many received messages are held for the view before the connection stops
    /// reading from the socket (back-pressure to the peer). If the view takes none of
    /// them for [`close_timeout`](Self::close_timeout), the connection is closed with
    /// 1008. Default 64.
    pub max_queued_messages: usize,
    /// How many bytes of received messages are held for the view before reading pauses,
    /// as with [`max_queued_messages`](Self::max_queued_messages): whichever bound is
    /// reached first. The message read last may pass it. Default 1 MiB.
    pub max_queued_bytes: usize,
    /// How many messages other tasks may queue through a
    /// [`WebSocketSender`](crate::WebSocketSender) before their `send` waits. Default 64.
    pub sender_capacity: usize,
    /// The largest HTTP request body, in bytes; a larger one is answered with 413.
    /// Default 2 MiB.
    pub max_body_size: usize,
    /// How long a closing handshake may take before the connection is dropped, how long
    /// shutdown waits for views to return, and how long a full message queue may go
    /// untouched before the connection is closed with 1008. Default 5 s.
    pub close_timeout: Duration,
    /// TCP keepalive on accepted connections: probes start after this much silence, so a
    /// peer that vanished without closing (power loss, a dropped NAT mapping) is noticed
    /// and its connection ends (`wait` returns `None` with
    /// [`CloseCause::ConnectionLost`](crate::CloseCause::ConnectionLost)) about 30 s
    /// later (3 probes 10 s apart). `None` leaves the system default (usually off).
    /// Default 60 s.
    pub tcp_keepalive: Option<Duration>,
    /// If set, a WebSocket request whose `Origin` header is not in this list is refused
    /// with 403. Requests without `Origin` (non-browser clients) pass. Default `None`:
    /// any origin.
    pub allowed_origins: Option<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            websocket_accept_all: false,
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 8 << 10,
            write_buffer_size: 64 << 10,
            max_queued_messages: 64,
            max_queued_bytes: 1 << 20,
            sender_capacity: 64,
            max_body_size: 2 << 20,
            close_timeout: Duration::from_secs(5),
            tcp_keepalive: Some(Duration::from_secs(60)),
            allowed_origins: None,
        }
    }
}

impl Settings {
    /// Defaults, overridden by whatever of these environment variables is set:
    ///
    /// | variable | field | form |
    /// |---|---|---|
    /// | `WEBSOCKET_ACCEPT_ALL` | `websocket_accept_all` | `1`, `true`, `yes`, `on` (any case) or anything else for false |
    /// | `WSVIEW_MAX_MESSAGE_SIZE` | `max_message_size` | bytes |
    /// | `WSVIEW_MAX_FRAME_SIZE` | `max_frame_size` | bytes |
    /// | `WSVIEW_MAX_BODY_SIZE` | `max_body_size` | bytes |
    /// | `WSVIEW_CLOSE_TIMEOUT_MS` | `close_timeout` | milliseconds |
    /// | `WSVIEW_ALLOWED_ORIGINS` | `allowed_origins` | comma-separated origins |
    ///
    /// A number that does not parse is ignored with a warning, never a panic.
    pub fn from_env() -> Self {
        Self::default().with_env_from(|name| std::env::var(name).ok())
    }

    /// Applies variables from `lookup` (testable without touching the process
    /// environment).
    pub(crate) fn with_env_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(v) = lookup("WEBSOCKET_ACCEPT_ALL") {
            self.websocket_accept_all = parse_bool(&v);
        }
        let number = |name: &str| -> Option<u64> {
            let raw = lookup(name)?;
            match raw.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    tracing::warn!(variable = name, value = %raw, "ignoring a value that is not a number");
                    None
                }
            }
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = number("WSVIEW_MAX_MESSAGE_SIZE") {
            self.max_message_size = size(n);
        }
        if let Some(n) = number("WSVIEW_MAX_FRAME_SIZE") {
            self.max_frame_size = size(n);
        }
        if let Some(n) = number("WSVIEW_MAX_BODY_SIZE") {
            self.max_body_size = size(n);
        }
        if let Some(n) = number("WSVIEW_CLOSE_TIMEOUT_MS") {
            self.close_timeout = Duration::from_millis(n);
        }
        if let Some(v) = lookup("WSVIEW_ALLOWED_ORIGINS") {
            self.allowed_origins = Some(
                v.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        self
    }
}

fn parse_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides() {
        let env = |name: &str| match name {
            "WEBSOCKET_ACCEPT_ALL" => Some("Yes".to_owned()),
            "WSVIEW_MAX_MESSAGE_SIZE" => Some("100".to_owned()),
            "WSVIEW_MAX_FRAME_SIZE" => Some("lots".to_owned()),
            _ => None,
        };
        let s = Settings::default().with_env_from(env);
        assert!(s.websocket_accept_all);
        assert_eq!(s.max_message_size, 100);
        assert_eq!(s.max_frame_size, Settings::default().max_frame_size);
        for v in ["1", "true", "TRUE", " yes "] {
            assert!(parse_bool(v), "{v}");
        }
        for v in ["0", "false", "no", ""] {
            assert!(!parse_bool(v), "{v}");
        }
    }
}
