//! What a [`RedisLayer`](super::RedisLayer) connects to and how it behaves, in code or
//! from the environment (`WSVIEW_REDIS_URL`, `WSVIEW_REDIS_PREFIX`).

use std::fmt;
use std::time::Duration;

/// The environment variable that turns the Redis layer on: `redis://HOST:PORT[/DB]`.
pub const URL_VAR: &str = "WSVIEW_REDIS_URL";
/// The environment variable that sets the key prefix (default `wsview`).
pub const PREFIX_VAR: &str = "WSVIEW_REDIS_PREFIX";
/// The environment variable naming a PEM file of the CA certificates to trust for a
/// `rediss://` URL instead of the system's (cargo feature `redis-tls`).
pub const CA_FILE_VAR: &str = "WSVIEW_REDIS_CA_FILE";
/// The environment variable naming a PEM file with the client certificate (chain) a
/// `rediss://` connection presents to a server that asks for one (mutual TLS); set
/// with [`KEY_FILE_VAR`].
pub const CERT_FILE_VAR: &str = "WSVIEW_REDIS_CERT_FILE";
/// The environment variable naming a PEM file with the private key of the client
/// certificate in [`CERT_FILE_VAR`].
pub const KEY_FILE_VAR: &str = "WSVIEW_REDIS_KEY_FILE";

/// Settings of a [`RedisLayer`](super::RedisLayer). Start from [`RedisConfig::new`] or
/// [`RedisConfig::from_env`] and change what you need.
///
/// ```
/// use std::time::Duration;
/// use wsview::groups::redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379/2")
///     .prefix("chat")
///     .presence_ttl(Duration::from_secs(10))
///     .heartbeat(Duration::from_secs(3));
/// assert_eq!(config.url(), "redis://127.0.0.1:6379/2");
/// ```
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) heartbeat: Duration,
    pub(super) presence_ttl: Duration,
    pub(super) queue_capacity: usize,
    pub(super) max_message_bytes: usize,
    pub(super) presence_list_limit: usize,
    pub(super) reconnect_min: Duration,
    pub(super) reconnect_max: Duration,
    pub(super) command_timeout: Duration,
    pub(super) roots: Option<Roots>,
    pub(super) identity: Option<Identity>,
}

/// The CA certificates a `rediss://` connection trusts instead of the system's.
#[cfg_attr(not(feature = "redis-tls"), allow(dead_code))] // read only by the TLS client
#[derive(Clone, Debug)]
pub(super) enum Roots {
    Pem(Vec<u8>),
    File(std::path::PathBuf),
}

/// The client certificate and key a `rediss://` connection presents (mutual TLS).
#[cfg_attr(not(feature = "redis-tls"), allow(dead_code))] // read only by the TLS client
#[derive(Clone)]
pub(super) enum Identity {
    Pem {
        cert: Vec<u8>,
        key: Vec<u8>,
    },
    /// From the environment, either of which may be missing (refused by `check`).
    Files {
        cert: Option<std::path::PathBuf>,
        key: Option<std::path::PathBuf>,
    },
}

impl fmt::Debug for Identity {
    // Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Pem { cert, .. } => f
                .debug_struct("Pem")
                .field("cert", &format_args!("{} bytes", cert.len()))
                .field("key", &format_args!("***"))
                .finish(),
            Identity::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
        }
    }
}

impl RedisConfig {
    /// Defaults: prefix `wsview`, heartbeat 5 s, presence TTL 15 s, 4,096 queued sends,
    /// 1 MiB per message, member lists for groups of up to 100, reconnect backoff from
    /// 100 ms doubling to 2 s, 2 s per Redis command.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "wsview".to_owned(),
            heartbeat: Duration::from_secs(5),
            presence_ttl: Duration::from_secs(15),
            queue_capacity: 4096,
            max_message_bytes: 1 << 20,
            presence_list_limit: 100,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            roots: None,
            identity: None,
        }
    }

    /// The config `WSVIEW_REDIS_URL` asks for (with `WSVIEW_REDIS_PREFIX`,
    /// `WSVIEW_REDIS_CA_FILE`, `WSVIEW_REDIS_CERT_FILE` and `WSVIEW_REDIS_KEY_FILE` if
    /// set), or `None` when `WSVIEW_REDIS_URL` is unset or empty. A certificate file
    /// without a key file, or a key without a certificate, makes
    /// [`RedisLayer::new`](super::RedisLayer::new) fail naming the missing one.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// `from_env` over any source of variables (the tests' own).
    fn from_lookup(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<Self> {
        let var = |name| lookup(name).filter(|v| !v.is_empty());
        let url = var(URL_VAR)?.into_string().ok()?;
        if url.trim().is_empty() {
            return None;
        }
        let mut config = RedisConfig::new(url.trim());
        if let Some(prefix) = var(PREFIX_VAR).and_then(|p| p.into_string().ok()) {
            config.prefix = prefix;
        }
        if let Some(file) = var(CA_FILE_VAR) {
            config.roots = Some(Roots::File(file.into()));
        }
        let (cert, key) = (var(CERT_FILE_VAR), var(KEY_FILE_VAR));
        if cert.is_some() || key.is_some() {
            config.identity = Some(Identity::Files {
                cert: cert.map(Into::into),
                key: key.map(Into::into),
            });
        }
        Some(config)
    }

    /// The Redis URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL without its password (`redis://user:***@host:port/db`), for logs.
    pub fn url_for_logs(&self) -> String {
        redact(&self.url)
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Prefix of every channel and key the layer uses, so several apps (or several
    /// deployments) can share one Redis: `PREFIX:g:GROUP`, `PREFIX:all`, `PREFIX:p:GROUP`.
    /// Processes share groups only when their prefixes are equal.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often this process refreshes its presence entries (and checks that Redis
    /// answers).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long a presence entry lives without a refresh: the bound within which the
    /// members of a process that died without cleaning up leave presence. Must be more
    /// than twice the heartbeat.
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl;
        self
    }

    /// How many sends may wait for the publisher task; past that, a send is not handed
    /// to Redis and is counted as dropped.
    pub fn queue_capacity(mut self, sends: usize) -> Self {
        self.queue_capacity = sends;
        self
    }

    /// The largest message (payload bytes) the layer publishes; a larger one is refused
    /// with an error whose source is [`MessageTooLarge`](super::MessageTooLarge).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Groups with at most this many members get their member list in
    /// [`Presence::members`](crate::groups::Presence); larger ones only a count.
    pub fn presence_list_limit(mut self, members: usize) -> Self {
        self.presence_list_limit = members;
        self
    }

    /// Delay before the first reconnect attempt, doubled after each failure up to `max`.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max;
        self
    }

    /// How long one Redis command (or connection attempt) may take before it counts as
    /// a failure.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// For a `rediss://` URL (cargo feature `redis-tls`): trust only the CA
    /// certificates in this PEM text, instead of the system's roots (a private CA, a
    /// test's self-signed certificate). Without it the system's roots are used.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tls")] {
    /// use wsview::groups::redis::{RedisConfig, RedisLayer};
    /// let pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    /// let config = RedisConfig::new("rediss://redis.internal:6380").root_certificates(pem);
    /// // A bad certificate is found when the layer is made, not at the first send.
    /// assert!(RedisLayer::new(config).is_err());
    /// # }
    /// ```
    pub fn root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = Some(Roots::Pem(pem.into()));
        self
    }

    /// Like [`root_certificates`](Self::root_certificates), from a PEM file, read when
    /// the layer is made ([`RedisLayer::new`](super::RedisLayer::new) fails naming the
    /// file if it cannot be read). What `WSVIEW_REDIS_CA_FILE` sets.
    pub fn root_certificates_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.roots = Some(Roots::File(path.into()));
        self
    }

    /// For a `rediss://` server that asks for client certificates (Redis'
    /// `tls-auth-clients yes`; cargo feature `redis-tls`): present this certificate
    /// (PEM, the chain's leaf first) with its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1). Both are checked when the layer is made.
    ///
    /// ```
    /// # #[cfg(feature = "redis-tls")] {
    /// use wsview::groups::redis::{RedisConfig, RedisLayer};
    /// let config = RedisConfig::new("rediss://redis.internal:6380")
    ///     .client_certificate("no certificate", "no key");
    /// assert!(RedisLayer::new(config).is_err());
    /// # }
    /// ```
    pub fn client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity = Some(Identity::Pem {
            cert: cert_pem.into(),
            key: key_pem.into(),
        });
        self
    }

    /// Like [`client_certificate`](Self::client_certificate), from PEM files read when
    /// the layer is made. What `WSVIEW_REDIS_CERT_FILE` and `WSVIEW_REDIS_KEY_FILE` set.
    pub fn client_certificate_files(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.identity = Some(Identity::Files {
            cert: Some(cert.into()),
            key: Some(key.into()),
        });
        self
    }

    /// Whether the URL asks for TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.url
            .get(..9)
            .is_some_and(|s| s.eq_ignore_ascii_case("rediss://"))
    }

    pub(super) fn check(&self) -> Result<(), RedisConfigError> {
        let bad = |why: &str| Err(RedisConfigError(why.to_owned()));
        if self.heartbeat.is_zero() {
            return bad("heartbeat must be more than zero");
        }
        if self.presence_ttl <= self.heartbeat * 2 {
            return bad("presence_ttl must be more than twice the heartbeat");
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity must be at least 1");
        }
        if self.reconnect_min.is_zero() || self.reconnect_max < self.reconnect_min {
            return bad("reconnect backoff needs 0 < min <= max");
        }
        if self.command_timeout.is_zero() {
            return bad("command_timeout must be more than zero");
        }
        if self.is_tls() && !cfg!(feature = "redis-tls") {
            return bad("a rediss:// URL needs wsview's cargo feature `redis-tls`");
        }
        if self.roots.is_some() && !self.is_tls() {
            return bad("root certificates are set, but the URL is not rediss://");
        }
        if let Some(identity) = &self.identity {
            if !self.is_tls() {
                return bad("a client certificate is set, but the URL is not rediss://");
            }
            if let Identity::Files { cert, key } = identity {
                if cert.is_none() {
                    return bad("WSVIEW_REDIS_KEY_FILE is set without WSVIEW_REDIS_CERT_FILE");
                }
                if key.is_none() {
                    return bad("WSVIEW_REDIS_CERT_FILE is set without WSVIEW_REDIS_KEY_FILE");
                }
            }
        }
        Ok(())
    }
}

/// `scheme://user:password@rest` → `scheme://user:***@rest`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// A [`RedisConfig`] the layer cannot use: a malformed URL, or settings that contradict
/// each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfigError(pub(super) String);

impl fmt::Display for RedisConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis layer config: {}", self.0)
    }
}

impl std::error::Error for RedisConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the environment's variables make: none without a URL; empty values count
    /// as unset; one of the two client-certificate files alone is refused by name.
    #[test]
    fn a_client_certificate_file_needs_its_key_file_and_back() {
        let env = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            RedisConfig::from_lookup(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
            })
        };
        assert!(env(&[]).is_none());
        assert!(env(&[(URL_VAR, "  ")]).is_none());
        let full = env(&[
            (URL_VAR, " rediss://h:6380 "),
            (PREFIX_VAR, "p"),
            (CA_FILE_VAR, ""),
            (CERT_FILE_VAR, "c.pem"),
            (KEY_FILE_VAR, "k.pem"),
        ])
        .expect("a config");
        assert_eq!((full.url(), full.key_prefix()), ("rediss://h:6380", "p"));
        assert!(full.roots.is_none(), "an empty CA file variable is unset");
        let half = |cert: Option<&str>, key: Option<&str>| {
            let mut vars = vec![(URL_VAR, "rediss://h:6380")];
            vars.extend(cert.map(|c| (CERT_FILE_VAR, c)));
            vars.extend(key.map(|k| (KEY_FILE_VAR, k)));
            env(&vars)
                .expect("a config")
                .check()
                .map_err(|e| e.to_string())
        };
        if !cfg!(feature = "redis-tls") {
            // Any rediss:// config is refused first, for want of the feature.
            let err = half(Some("c.pem"), Some("k.pem")).expect_err("no TLS");
            assert!(err.contains("redis-tls"), "{err}");
            return;
        }
        let err = half(Some("c.pem"), None).expect_err("no key file");
        assert!(err.contains("WSVIEW_REDIS_KEY_FILE"), "{err}");
        let err = half(None, Some("k.pem")).expect_err("no cert file");
        assert!(err.contains("WSVIEW_REDIS_CERT_FILE"), "{err}");
        assert!(half(Some("c.pem"), Some("k.pem")).is_ok());
    }

    #[test]
    fn rediss_is_tls_and_needs_the_feature() {
        assert!(RedisConfig::new("rediss://h:6380").is_tls());
        assert!(RedisConfig::new("REDISS://h:6380").is_tls());
        assert!(!RedisConfig::new("redis://h:6379").is_tls());
        let checked = RedisConfig::new("rediss://h:6380").check();
        if cfg!(feature = "redis-tls") {
            assert_eq!(checked, Ok(()));
        } else {
            let err = checked.expect_err("no TLS support built in");
            assert!(err.to_string().contains("`redis-tls`"), "{err}");
        }
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        let url = |u: &str| RedisConfig::new(u).url_for_logs();
        assert_eq!(url("redis://127.0.0.1:6379/2"), "redis://127.0.0.1:6379/2");
        assert_eq!(url("redis://:s3cret@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(url("redis://app:s3:cr@t@h:1"), "redis://app:***@h:1");
        assert_eq!(url("redis://h:1/x@y"), "redis://h:1/x@y");
    }

    #[test]
    fn contradictory_settings_are_refused() {
        let c = || RedisConfig::new("redis://h");
        assert!(c().check().is_ok());
        let heartbeat = Duration::from_secs(5);
        assert!(c().presence_ttl(heartbeat * 2).check().is_err());
        assert!(c().heartbeat(Duration::ZERO).check().is_err());
        assert!(c().queue_capacity(0).check().is_err());
        let ms = Duration::from_millis;
        assert!(c().reconnect_backoff(ms(10), ms(5)).check().is_err());
        assert!(c().command_timeout(Duration::ZERO).check().is_err());
    }
}
