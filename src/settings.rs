//! Settings: django-websocket's `WEBSOCKET_ACCEPT_ALL`, plus the limits and timeouts a
//! production server needs, with defaults safe for many idle connections.

use std::time::Duration;

use crate::engine::negotiate::DeflateConfig;

/// Server-wide settings, set in code or read from the environment.
///
/// Every field has a safe default (listed with each setter); change what you need with
/// the builder setters:
///
/// ```
/// use std::time::Duration;
/// let settings = wsview::Settings::default()
///     .websocket_accept_all(true)
///     .max_message_size(64 * 1024)
///     .close_timeout(Duration::from_secs(2));
/// let app = wsview::App::new().settings(settings);
/// # drop(app);
/// ```
///
/// The fields are public too (`settings.max_message_size = …`), and
/// [`Settings::from_env`] reads them from the environment.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use = "settings do nothing until given to `App::settings`"]
pub struct Settings {
    /// See [`Settings::websocket_accept_all`](Self::websocket_accept_all()).
    pub websocket_accept_all: bool,
    /// See [`Settings::max_message_size`](Self::max_message_size()).
    pub max_message_size: usize,
    /// See [`Settings::max_frame_size`](Self::max_frame_size()).
    pub max_frame_size: usize,
    /// See [`Settings::read_buffer_size`](Self::read_buffer_size()).
    pub read_buffer_size: usize,
    /// See [`Settings::write_buffer_size`](Self::write_buffer_size()).
    pub write_buffer_size: usize,
    /// See [`Settings::max_queued_messages`](Self::max_queued_messages()).
    pub max_queued_messages: usize,
    /// See [`Settings::max_queued_bytes`](Self::max_queued_bytes()).
    pub max_queued_bytes: usize,
    /// See [`Settings::sender_capacity`](Self::sender_capacity()).
    pub sender_capacity: usize,
    /// See [`Settings::max_body_size`](Self::max_body_size()).
    pub max_body_size: usize,
    /// See [`Settings::close_timeout`](Self::close_timeout()).
    pub close_timeout: Duration,
    /// See [`Settings::header_read_timeout`](Self::header_read_timeout()).
    pub header_read_timeout: Option<Duration>,
    /// See [`Settings::tcp_keepalive`](Self::tcp_keepalive()).
    pub tcp_keepalive: Option<Duration>,
    /// See [`Settings::tcp_keepalive_interval`](Self::tcp_keepalive_interval()).
    pub tcp_keepalive_interval: Duration,
    /// See [`Settings::tcp_keepalive_retries`](Self::tcp_keepalive_retries()).
    pub tcp_keepalive_retries: u32,
    /// See [`Settings::allowed_origins`](Self::allowed_origins()).
    pub allowed_origins: Option<Vec<String>>,
    /// See [`Settings::dangerously_allow_any_origin`](Self::dangerously_allow_any_origin()).
    pub any_origin: bool,
    /// See [`Settings::ping_interval`](Self::ping_interval()).
    pub ping_interval: Option<Duration>,
    /// See [`Settings::pong_timeout`](Self::pong_timeout()).
    pub pong_timeout: Option<Duration>,
    /// See [`Settings::message_read_timeout`](Self::message_read_timeout()).
    pub message_read_timeout: Option<Duration>,
    /// See [`Settings::body_read_timeout`](Self::body_read_timeout()).
    pub body_read_timeout: Option<Duration>,
    /// See [`Settings::listen_backlog`](Self::listen_backlog()).
    pub listen_backlog: u32,
    /// See [`Settings::http2_max_concurrent_streams`](Self::http2_max_concurrent_streams()).
    pub http2_max_concurrent_streams: u32,
    /// See [`Settings::http2_keep_alive_interval`](Self::http2_keep_alive_interval()).
    pub http2_keep_alive_interval: Option<Duration>,
    /// See [`Settings::compression`](Self::compression()).
    pub compression: Option<DeflateConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            websocket_accept_all: false,
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 64 << 10,
            write_buffer_size: 64 << 10,
            max_queued_messages: 64,
            max_queued_bytes: 1 << 20,
            sender_capacity: 64,
            max_body_size: 2 << 20,
            close_timeout: Duration::from_secs(5),
            header_read_timeout: Some(Duration::from_secs(30)),
            tcp_keepalive: Some(Duration::from_secs(60)),
            tcp_keepalive_interval: Duration::from_secs(10),
            tcp_keepalive_retries: 3,
            allowed_origins: None,
            any_origin: false,
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Some(Duration::from_secs(20)),
            message_read_timeout: Some(Duration::from_secs(30)),
            body_read_timeout: Some(Duration::from_secs(30)),
            listen_backlog: 1024,
            http2_max_concurrent_streams: 200,
            http2_keep_alive_interval: None,
            compression: None,
        }
    }
}

impl Settings {
    /// Every view accepts WebSocket requests, as if wrapped in
    /// [`accept_websocket`](crate::accept_websocket). django-websocket's
    /// `WEBSOCKET_ACCEPT_ALL`. Default `false`.
    pub fn websocket_accept_all(mut self, accept_all: bool) -> Self {
        self.websocket_accept_all = accept_all;
        self
    }

    /// The largest incoming message, in bytes, after reassembling fragments. A larger
    /// one closes the connection with 1009 (message too big). Default 1 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The largest incoming frame payload, in bytes. Default 1 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// The most bytes read from the socket at once (at least 256). Reads go through one
    /// buffer per runtime thread, shared by every connection polled on it, so this costs
    /// no memory per connection: a connection keeps only a frame or message still
    /// arriving. Larger means fewer reads for large or pipelined messages. Default
    /// 64 KiB.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Outgoing frames are gathered up to this many bytes before they are written
    /// early; everything queued is written when the view next waits. Default 64 KiB.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// How many received messages are held for the view before the connection stops
    /// reading from the socket (back-pressure to the peer). If the view takes none of
    /// them for [`close_timeout`](Self::close_timeout()), the connection is closed with
    /// 1008. Default 64.
    pub fn max_queued_messages(mut self, messages: usize) -> Self {
        self.max_queued_messages = messages;
        self
    }

    /// How many bytes of received messages are held for the view before reading pauses,
    /// as with [`max_queued_messages`](Self::max_queued_messages()): whichever bound is
    /// reached first. The message read last may pass it. Default 1 MiB.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// How many messages other tasks may queue through a
    /// [`WebSocketSender`](crate::WebSocketSender) before their `send` waits (at least
    /// 1). Default 64.
    pub fn sender_capacity(mut self, messages: usize) -> Self {
        self.sender_capacity = messages;
        self
    }

    /// The largest HTTP request body, in bytes; a larger one is answered with 413.
    /// Default 2 MiB.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// How long a closing handshake may take before the connection is dropped, how long
    /// shutdown waits for views to return (and HTTP requests to finish), and how long a
    /// full message queue may go untouched before the connection is closed with 1008.
    /// Default 5 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's headers before its HTTP
    /// connection is closed (a slowloris bound); it also bounds how long an idle
    /// keep-alive connection waits for its next request. `None` waits forever.
    /// Default 30 s.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// TCP keepalive on accepted connections: probes start after this much silence, so a
    /// peer that vanished without closing (power loss, a dropped NAT mapping) is noticed
    /// and its connection ends (`wait` returns `None` with
    /// [`CloseCause::ConnectionLost`](crate::CloseCause::ConnectionLost)) after
    /// [`tcp_keepalive_retries`](Self::tcp_keepalive_retries()) probes
    /// [`tcp_keepalive_interval`](Self::tcp_keepalive_interval()) apart (about 30 s
    /// later by default). `None` leaves the system default (usually off). Default 60 s.
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// The time between two TCP keepalive probes. Default 10 s.
    pub fn tcp_keepalive_interval(mut self, interval: Duration) -> Self {
        self.tcp_keepalive_interval = interval;
        self
    }

    /// How many unanswered TCP keepalive probes end the connection. Default 3.
    pub fn tcp_keepalive_retries(mut self, retries: u32) -> Self {
        self.tcp_keepalive_retries = retries;
        self
    }

    /// Browser origins allowed to open WebSockets besides the request's own host: a
    /// WebSocket request whose `Origin` header is neither the origin of its `Host` nor one
    /// of `origins` (`"https://app.example"`, compared without regard to case) is refused
    /// with 403. Requests without `Origin` (non-browser clients) pass.
    ///
    /// By default (no list) only the same host passes: a page on another site cannot
    /// open a WebSocket with the user's cookies (cross-site WebSocket hijacking; see the
    /// guide). Behind a proxy that rewrites `Host`, list the public origins here.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Accepts WebSocket requests from **any** origin: any web page the user visits can
    /// then open a WebSocket to this server carrying the user's cookies and read what it
    /// sends back. Only for servers that authenticate every connection without cookies
    /// (a token in the first message) or serve nothing private. Default: off.
    pub fn dangerously_allow_any_origin(mut self) -> Self {
        self.any_origin = true;
        self
    }

    /// Keepalive: a ping goes to a WebSocket peer from which nothing has arrived for this
    /// long, so a dead or vanished peer is noticed (see
    /// [`pong_timeout`](Self::pong_timeout())). Anything the peer sends counts as a sign
    /// of life. `None`: no pings. Default 20 s (as Python's `websockets`, uvicorn and
    /// daphne).
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// After a keepalive ping, how long the peer has to send anything at all (a pong or
    /// any other frame). Past it the connection is closed with 1011 and dropped; the view
    /// sees `wait` return `None` with
    /// [`CloseCause::Unresponsive`](crate::CloseCause::Unresponsive). `None`: pings go
    /// out but silence never closes. Default 20 s.
    pub fn pong_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pong_timeout = timeout;
        self
    }

    /// How long a WebSocket frame or message may take to arrive once its first byte has:
    /// a peer that starts one and stalls is closed with 1008 and its half-received input
    /// freed ([`CloseCause::Error`](crate::CloseCause::Error) with code 1008). The clock
    /// runs from the message's first byte to its last: a fragmented message must be
    /// whole within it, however many fragments and pings the peer sends meanwhile; it
    /// restarts only with the next message. `None` waits forever. Default 30 s.
    pub fn message_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_read_timeout = timeout;
        self
    }

    /// How long an HTTP request body may take to arrive, from the moment it is first
    /// read; a slower one is answered with 408. `None` waits forever. Default 30 s.
    pub fn body_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// How many connections the kernel queues before they are accepted (`listen`'s
    /// backlog; Linux caps it at `net.core.somaxconn`). Default 1024.
    pub fn listen_backlog(mut self, backlog: u32) -> Self {
        self.listen_backlog = backlog;
        self
    }

    /// How many streams one HTTP/2 connection may have open at once (advertised to the
    /// client as `SETTINGS_MAX_CONCURRENT_STREAMS`): requests in progress plus
    /// WebSockets over that connection (RFC 8441), each of which holds a stream for its
    /// whole life. A client at the limit waits for a stream to end before it opens
    /// another. Default 200 (hyper's).
    pub fn http2_max_concurrent_streams(mut self, streams: u32) -> Self {
        self.http2_max_concurrent_streams = streams;
        self
    }

    /// HTTP/2 keepalive: a PING frame on a connection after this much time without
    /// frames from the client, and the connection dropped if the ping is not
    /// acknowledged within 20 s. It notices a vanished client on a connection with no
    /// WebSocket (WebSockets over it have their own [`ping_interval`](Self::ping_interval())).
    /// `None`: no HTTP/2 pings. Default `None`.
    pub fn http2_keep_alive_interval(mut self, interval: Option<Duration>) -> Self {
        self.http2_keep_alive_interval = interval;
        self
    }

    /// permessage-deflate (RFC 7692): `Some(config)` compresses with every client that
    /// offers it (browsers and most clients do), `None` never. A view can override it
    /// with [`View::compression`](crate::View::compression). Default `None`.
    ///
    /// The defaults of [`DeflateConfig`] keep no compression context between messages,
    /// so an idle connection holds no zlib memory; context takeover compresses similar
    /// messages much better but costs about 310 KiB per connection on the server's side
    /// and up to 40 KiB on the client's (see `docs/performance.md`).
    ///
    /// ```
    /// let settings = wsview::Settings::default().compression(Some(wsview::DeflateConfig::default()));
    /// # drop(settings);
    /// ```
    pub fn compression(mut self, config: Option<DeflateConfig>) -> Self {
        self.compression = config;
        self
    }

    /// Defaults, overridden by whatever of these environment variables is set:
    ///
    /// | variable | setting | form |
    /// |---|---|---|
    /// | `WEBSOCKET_ACCEPT_ALL` | [`websocket_accept_all`](Self::websocket_accept_all()) | `1`, `true`, `yes`, `on` / `0`, `false`, `no`, `off` (any case) |
    /// | `WSVIEW_MAX_MESSAGE_SIZE` | [`max_message_size`](Self::max_message_size()) | bytes |
    /// | `WSVIEW_MAX_FRAME_SIZE` | [`max_frame_size`](Self::max_frame_size()) | bytes |
    /// | `WSVIEW_READ_BUFFER_SIZE` | [`read_buffer_size`](Self::read_buffer_size()) | bytes |
    /// | `WSVIEW_WRITE_BUFFER_SIZE` | [`write_buffer_size`](Self::write_buffer_size()) | bytes |
    /// | `WSVIEW_MAX_QUEUED_MESSAGES` | [`max_queued_messages`](Self::max_queued_messages()) | a count |
    /// | `WSVIEW_MAX_QUEUED_BYTES` | [`max_queued_bytes`](Self::max_queued_bytes()) | bytes |
    /// | `WSVIEW_SENDER_CAPACITY` | [`sender_capacity`](Self::sender_capacity()) | a count |
    /// | `WSVIEW_MAX_BODY_SIZE` | [`max_body_size`](Self::max_body_size()) | bytes |
    /// | `WSVIEW_CLOSE_TIMEOUT_MS` | [`close_timeout`](Self::close_timeout()) | milliseconds |
    /// | `WSVIEW_HEADER_READ_TIMEOUT_MS` | [`header_read_timeout`](Self::header_read_timeout()) | milliseconds, or `off` |
    /// | `WSVIEW_TCP_KEEPALIVE_SECS` | [`tcp_keepalive`](Self::tcp_keepalive()) | seconds, or `off` |
    /// | `WSVIEW_TCP_KEEPALIVE_INTERVAL_SECS` | [`tcp_keepalive_interval`](Self::tcp_keepalive_interval()) | seconds |
    /// | `WSVIEW_TCP_KEEPALIVE_RETRIES` | [`tcp_keepalive_retries`](Self::tcp_keepalive_retries()) | a count |
    /// | `WSVIEW_ALLOWED_ORIGINS` | [`allowed_origins`](Self::allowed_origins()) | comma-separated origins |
    /// | `WSVIEW_PING_INTERVAL_MS` | [`ping_interval`](Self::ping_interval()) | milliseconds, or `off` |
    /// | `WSVIEW_PONG_TIMEOUT_MS` | [`pong_timeout`](Self::pong_timeout()) | milliseconds, or `off` |
    /// | `WSVIEW_MESSAGE_READ_TIMEOUT_MS` | [`message_read_timeout`](Self::message_read_timeout()) | milliseconds, or `off` |
    /// | `WSVIEW_BODY_READ_TIMEOUT_MS` | [`body_read_timeout`](Self::body_read_timeout()) | milliseconds, or `off` |
    /// | `WSVIEW_LISTEN_BACKLOG` | [`listen_backlog`](Self::listen_backlog()) | a count |
    /// | `WSVIEW_HTTP2_MAX_STREAMS` | [`http2_max_concurrent_streams`](Self::http2_max_concurrent_streams()) | a count |
    /// | `WSVIEW_HTTP2_KEEPALIVE_MS` | [`http2_keep_alive_interval`](Self::http2_keep_alive_interval()) | milliseconds, or `off` |
    /// | `WSVIEW_COMPRESSION` | [`compression`](Self::compression()) | `on` (the default [`DeflateConfig`]) or `off`, or any boolean form |
    /// | `WSVIEW_COMPRESSION_THRESHOLD` | [`DeflateConfig::threshold`] when compression is on | bytes |
    ///
    /// Surrounding whitespace is ignored. A value that is not of its form is an error
    /// naming the variable and the value (`WEBSOCKET_ACCEPT_ALL=maybe` is an error, not
    /// `false`); so is a value that is not valid Unicode.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let settings = wsview::Settings::from_env()?; // an EnvError converts to io::Error
    /// # drop(settings); Ok(()) }
    /// ```
    pub fn from_env() -> Result<Self, EnvError> {
        Self::default().with_env_from(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(raw)) => Err(EnvError {
                variable: name.to_owned(),
                value: raw.to_string_lossy().into_owned(),
                expected: "valid Unicode",
            }),
        })
    }

    /// Applies variables from `lookup` (testable without touching the process
    /// environment).
    pub(crate) fn with_env_from(
        mut self,
        lookup: impl Fn(&str) -> Result<Option<String>, EnvError>,
    ) -> Result<Self, EnvError> {
        let env = Env(&lookup);
        if let Some(v) = env.boolean("WEBSOCKET_ACCEPT_ALL")? {
            self.websocket_accept_all = v;
        }
        let sizes: [(&str, &mut usize); 8] = [
            ("WSVIEW_MAX_MESSAGE_SIZE", &mut self.max_message_size),
            ("WSVIEW_MAX_FRAME_SIZE", &mut self.max_frame_size),
            ("WSVIEW_READ_BUFFER_SIZE", &mut self.read_buffer_size),
            ("WSVIEW_WRITE_BUFFER_SIZE", &mut self.write_buffer_size),
            ("WSVIEW_MAX_QUEUED_MESSAGES", &mut self.max_queued_messages),
            ("WSVIEW_MAX_QUEUED_BYTES", &mut self.max_queued_bytes),
            ("WSVIEW_SENDER_CAPACITY", &mut self.sender_capacity),
            ("WSVIEW_MAX_BODY_SIZE", &mut self.max_body_size),
        ];
        for (name, field) in sizes {
            if let Some(n) = env.number::<usize>(name)? {
                *field = n;
            }
        }
        if let Some(ms) = env.number::<u64>("WSVIEW_CLOSE_TIMEOUT_MS")? {
            self.close_timeout = Duration::from_millis(ms);
        }
        let timeouts: [(&str, &mut Option<Duration>); 6] = [
            (
                "WSVIEW_HEADER_READ_TIMEOUT_MS",
                &mut self.header_read_timeout,
            ),
            ("WSVIEW_PING_INTERVAL_MS", &mut self.ping_interval),
            ("WSVIEW_PONG_TIMEOUT_MS", &mut self.pong_timeout),
            (
                "WSVIEW_MESSAGE_READ_TIMEOUT_MS",
                &mut self.message_read_timeout,
            ),
            ("WSVIEW_BODY_READ_TIMEOUT_MS", &mut self.body_read_timeout),
            (
                "WSVIEW_HTTP2_KEEPALIVE_MS",
                &mut self.http2_keep_alive_interval,
            ),
        ];
        for (name, field) in timeouts {
            if let Some(ms) = env.optional_number(name)? {
                *field = ms.map(Duration::from_millis);
            }
        }
        if let Some(n) = env.number::<u32>("WSVIEW_LISTEN_BACKLOG")? {
            self.listen_backlog = n;
        }
        if let Some(n) = env.number::<u32>("WSVIEW_HTTP2_MAX_STREAMS")? {
            self.http2_max_concurrent_streams = n;
        }
        if let Some(secs) = env.optional_number("WSVIEW_TCP_KEEPALIVE_SECS")? {
            self.tcp_keepalive = secs.map(Duration::from_secs);
        }
        if let Some(secs) = env.number::<u64>("WSVIEW_TCP_KEEPALIVE_INTERVAL_SECS")? {
            self.tcp_keepalive_interval = Duration::from_secs(secs);
        }
        if let Some(n) = env.number::<u32>("WSVIEW_TCP_KEEPALIVE_RETRIES")? {
            self.tcp_keepalive_retries = n;
        }
        if let Some(on) = env.boolean("WSVIEW_COMPRESSION")? {
            self.compression = on.then(DeflateConfig::default);
        }
        if let Some(bytes) = env.number::<usize>("WSVIEW_COMPRESSION_THRESHOLD")? {
            if let Some(config) = &mut self.compression {
                config.threshold = bytes;
            }
        }
        if let Some(v) = env.get("WSVIEW_ALLOWED_ORIGINS")? {
            self.allowed_origins = Some(
                v.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        Ok(self)
    }
}

/// Reads and checks environment variables.
struct Env<'a>(&'a dyn Fn(&str) -> Result<Option<String>, EnvError>);

impl Env<'_> {
    fn get(&self, name: &str) -> Result<Option<String>, EnvError> {
        (self.0)(name)
    }

    fn parse<T>(
        &self,
        name: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, EnvError> {
        let Some(raw) = self.get(name)? else {
            return Ok(None);
        };
        match parse(raw.trim()) {
            Some(v) => Ok(Some(v)),
            None => Err(EnvError {
                variable: name.to_owned(),
                value: raw,
                expected,
            }),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, EnvError> {
        self.parse(
            name,
            "a boolean: 1, true, yes, on, 0, false, no or off",
            |v| match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            },
        )
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, EnvError> {
        self.parse(name, "a whole number", |v| v.parse().ok())
    }

    /// A number, or `off` for `None`.
    fn optional_number(&self, name: &str) -> Result<Option<Option<u64>>, EnvError> {
        self.parse(name, "a whole number, or off", |v| {
            if v.eq_ignore_ascii_case("off") {
                Some(None)
            } else {
                v.parse().ok().map(Some)
            }
        })
    }
}

/// An environment variable [`Settings::from_env`] could not use: which one, its value,
/// and what it should have been.
///
/// ```
/// // (Each doc test is a process of its own, so setting the variable is harmless.)
/// std::env::set_var("WEBSOCKET_ACCEPT_ALL", "maybe");
/// let err = wsview::Settings::from_env().unwrap_err();
/// assert_eq!(err.variable(), "WEBSOCKET_ACCEPT_ALL");
/// assert_eq!(err.value(), "maybe");
/// assert_eq!(
///     err.to_string(),
///     "WEBSOCKET_ACCEPT_ALL=\"maybe\" is not a boolean: 1, true, yes, on, 0, false, no or off"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    variable: String,
    value: String,
    expected: &'static str,
}

impl EnvError {
    /// The variable's name.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The value it held (lossily decoded if it was not Unicode).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the value should have been.
    pub fn expected(&self) -> &str {
        self.expected
    }
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={:?} is not {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for EnvError {}

impl From<EnvError> for std::io::Error {
    fn from(e: EnvError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, EnvError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::default().with_env_from(move |name| {
            Ok(vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        })
    }

    #[test]
    fn every_variable_is_read() {
        let s = with(&[
            ("WEBSOCKET_ACCEPT_ALL", " Yes "),
            ("WSVIEW_MAX_MESSAGE_SIZE", "100"),
            ("WSVIEW_MAX_FRAME_SIZE", "101"),
            ("WSVIEW_READ_BUFFER_SIZE", "1024"),
            ("WSVIEW_WRITE_BUFFER_SIZE", "2048"),
            ("WSVIEW_MAX_QUEUED_MESSAGES", "7"),
            ("WSVIEW_MAX_QUEUED_BYTES", "4096"),
            ("WSVIEW_SENDER_CAPACITY", "9"),
            ("WSVIEW_MAX_BODY_SIZE", "10"),
            ("WSVIEW_CLOSE_TIMEOUT_MS", "250"),
            ("WSVIEW_HEADER_READ_TIMEOUT_MS", "off"),
            ("WSVIEW_TCP_KEEPALIVE_SECS", "20"),
            ("WSVIEW_TCP_KEEPALIVE_INTERVAL_SECS", "2"),
            ("WSVIEW_TCP_KEEPALIVE_RETRIES", "5"),
            (
                "WSVIEW_ALLOWED_ORIGINS",
                "https://a.example, ,https://b.example",
            ),
            ("WSVIEW_PING_INTERVAL_MS", "1500"),
            ("WSVIEW_PONG_TIMEOUT_MS", "off"),
            ("WSVIEW_MESSAGE_READ_TIMEOUT_MS", "700"),
            ("WSVIEW_BODY_READ_TIMEOUT_MS", "800"),
            ("WSVIEW_LISTEN_BACKLOG", "77"),
            ("WSVIEW_HTTP2_MAX_STREAMS", "3"),
            ("WSVIEW_HTTP2_KEEPALIVE_MS", "900"),
        ])
        .expect("valid");
        assert!(s.websocket_accept_all);
        assert_eq!(
            (s.max_message_size, s.max_frame_size, s.read_buffer_size),
            (100, 101, 1024)
        );
        assert_eq!((s.write_buffer_size, s.max_queued_messages), (2048, 7));
        assert_eq!(
            (s.max_queued_bytes, s.sender_capacity, s.max_body_size),
            (4096, 9, 10)
        );
        assert_eq!(s.close_timeout, Duration::from_millis(250));
        assert_eq!(s.header_read_timeout, None);
        assert_eq!(s.tcp_keepalive, Some(Duration::from_secs(20)));
        assert_eq!(s.tcp_keepalive_interval, Duration::from_secs(2));
        assert_eq!(s.tcp_keepalive_retries, 5);
        assert_eq!(
            s.allowed_origins.as_deref(),
            Some(
                &[
                    "https://a.example".to_owned(),
                    "https://b.example".to_owned()
                ][..]
            )
        );
        assert_eq!(s.ping_interval, Some(Duration::from_millis(1500)));
        assert_eq!(s.pong_timeout, None);
        assert_eq!(s.message_read_timeout, Some(Duration::from_millis(700)));
        assert_eq!(s.body_read_timeout, Some(Duration::from_millis(800)));
        assert_eq!(s.listen_backlog, 77);
        assert_eq!(s.http2_max_concurrent_streams, 3);
        assert_eq!(
            s.http2_keep_alive_interval,
            Some(Duration::from_millis(900))
        );
        let none = with(&[("WSVIEW_TCP_KEEPALIVE_SECS", "OFF")]).expect("valid");
        assert_eq!(none.tcp_keepalive, None);
    }

    #[test]
    fn booleans_are_strict() {
        for (v, want) in [
            ("1", true),
            ("TRUE", true),
            ("on", true),
            ("0", false),
            ("No", false),
            ("off", false),
        ] {
            let s = with(&[("WEBSOCKET_ACCEPT_ALL", v)]).expect(v);
            assert_eq!(s.websocket_accept_all, want, "{v}");
        }
        for bad in ["maybe", "", "2", "yess"] {
            let err = with(&[("WEBSOCKET_ACCEPT_ALL", bad)]).expect_err(bad);
            assert_eq!(err.variable(), "WEBSOCKET_ACCEPT_ALL");
            assert_eq!(err.value(), bad);
        }
    }

    #[test]
    fn bad_numbers_name_the_variable_and_value() {
        let err = with(&[("WSVIEW_MAX_FRAME_SIZE", "lots")]).expect_err("lots");
        assert_eq!(
            err.to_string(),
            "WSVIEW_MAX_FRAME_SIZE=\"lots\" is not a whole number"
        );
        let err = with(&[("WSVIEW_HEADER_READ_TIMEOUT_MS", "-1")]).expect_err("-1");
        assert_eq!(err.expected(), "a whole number, or off");
        assert!(with(&[("WSVIEW_TCP_KEEPALIVE_RETRIES", "99999999999")]).is_err());
    }

    #[test]
    fn setters_set() {
        let s = Settings::default()
            .websocket_accept_all(true)
            .max_body_size(5)
            .header_read_timeout(Some(Duration::from_secs(1)))
            .allowed_origins(["https://a.example"]);
        assert!(s.websocket_accept_all);
        assert_eq!(s.max_body_size, 5);
        assert_eq!(s.header_read_timeout, Some(Duration::from_secs(1)));
        assert_eq!(
            s.allowed_origins,
            Some(vec!["https://a.example".to_owned()])
        );
        assert!(!s.any_origin);
        let any = s.dangerously_allow_any_origin();
        assert!(any.any_origin);
    }
}
