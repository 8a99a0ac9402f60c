//! Groups across processes through Redis (cargo feature `redis`).
//!
//! A [`RedisLayer`] given to [`Groups`](crate::groups::Groups) makes a group send reach the
//! members of that group on every process that uses the same Redis and key prefix:
//!
//! - **one PUBLISH per send**, whatever the number of members, on the group's channel
//!   (`PREFIX:g:GROUP`) or the broadcast channel (`PREFIX:all`); the bytes are a
//!   10-byte header (sending layer, text or binary; plus the `except` id if any) and
//!   the payload;
//! - **subscriptions follow local members**: a process subscribes to a group's channel
//!   while it has at least one local member of it (and always to the broadcast
//!   channel), so a process never receives sends for groups it has no member of;
//! - **presence**: each group has a sorted set (`PREFIX:p:GROUP`) of its members across
//!   processes, each entry refreshed every [heartbeat](RedisConfig::heartbeat); the
//!   entries of a process that dies without cleaning up stop counting
//!   [`presence_ttl`](RedisConfig::presence_ttl) after its last refresh reached Redis;
//! - **faults**: while Redis is unreachable, local delivery goes on, sends to other
//!   processes are refused at once (counted as dropped), the layer reconnects with
//!   backoff, then resubscribes and puts its presence entries back; the outage and the
//!   recovery are logged (`tracing`, warn and info). Nothing waits on Redis in a send,
//!   and the queue to the publisher is bounded.
//!
//! Delivery is at most once (Redis pub/sub keeps nothing for a process that is not
//! subscribed at that moment) and in order per sending process: one connection carries
//! a process's sends, in the order they were made.
//!
//! ```no_run
//! use wsview::groups::redis::{RedisConfig, RedisLayer};
//! use wsview::groups::Groups;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // From `WSVIEW_REDIS_URL=redis://HOST:PORT[/DB]` (and `WSVIEW_REDIS_PREFIX`)...
//! let groups = match RedisLayer::from_env()? {
//!     Some(layer) => Groups::builder().layer(layer).build(),
//!     None => Groups::new(), // this process only
//! };
//! // ...or in code, keeping a clone for its stats and a clean close.
//! let layer = RedisLayer::new(RedisConfig::new("redis://127.0.0.1:6379").prefix("chat"))?;
//! let shared = Groups::builder().layer(layer.clone()).build();
//! shared.send("lobby", "to the lobby's members on every process");
//! println!("{}", layer.stats());
//! layer.close().await;
//! # let _ = groups;
//! # Ok(())
//! # }
//! ```

mod config;
mod control;
mod keys;
mod presence;
mod publisher;
mod state;
mod wire;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};

pub use config::{
    RedisConfig, RedisConfigError, CA_FILE_VAR, CERT_FILE_VAR, KEY_FILE_VAR, PREFIX_VAR, URL_VAR,
};
pub use wire::MessageTooLarge;

use self::control::Query;
use self::publisher::Outgoing;
use self::state::{lock, Counters, Shared};
use crate::groups::{ConnectionId, Envelope, GroupLayer, LayerError, Presence, RemoteSink};
use crate::view::BoxFuture;

/// Pending presence queries; past that, a query fails with a "full" error at once.
const QUERY_QUEUE: usize = 256;

/// The Redis [`GroupLayer`]. Cheap to clone (the clones are one layer); the layer stops
/// when the last clone and the registry holding it are dropped, or at
/// [`close`](Self::close). One layer serves one registry: a second
/// [`start`](GroupLayer::start) is refused (logged), so build one layer per `Groups`.
#[derive(Clone)]
pub struct RedisLayer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    client: redis::Client,
    /// Set by `start`: the queues to the publisher and control tasks.
    queues: OnceLock<Queues>,
    /// Keeps the start error for the log only once.
    start_failed: Mutex<bool>,
}

struct Queues {
    publish: mpsc::Sender<Outgoing>,
    queries: mpsc::Sender<Query>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// What a [`RedisLayer`] has done so far (counters since it was made).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Whether the layer is connected to Redis now.
    pub connected: bool,
    /// Sends published (one PUBLISH each).
    pub published: u64,
    /// Sends refused because Redis was unreachable.
    pub refused_unavailable: u64,
    /// Sends refused because the queue to the publisher was full.
    pub refused_full: u64,
    /// Sends refused for being over [`RedisConfig::max_message_bytes`].
    pub refused_too_large: u64,
    /// Sends accepted but lost when the connection failed before Redis confirmed them.
    pub lost_in_flight: u64,
    /// Sends received from other processes and handed to this process's members.
    pub received: u64,
    /// Messages on this layer's channels that were not sends of this layer's format.
    pub malformed: u64,
    /// Times the connection was lost.
    pub outages: u64,
    /// Times it came back after an outage.
    pub reconnects: u64,
}

/// Prometheus text exposition, beside [`Snapshot`](crate::groups::Snapshot)'s:
/// `wsview_redis_connected` (gauge) and one `wsview_redis_*_total` counter per field.
///
/// ```
/// let text = wsview::groups::redis::RedisStats::default().to_string();
/// assert!(text.contains("# TYPE wsview_redis_published_total counter"));
/// assert!(text.contains("wsview_redis_connected 0"));
/// ```
impl std::fmt::Display for RedisStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "# TYPE wsview_redis_connected gauge")?;
        writeln!(f, "wsview_redis_connected {}", u8::from(self.connected))?;
        let counters = [
            ("published", self.published),
            ("refused_unavailable", self.refused_unavailable),
            ("refused_full", self.refused_full),
            ("refused_too_large", self.refused_too_large),
            ("lost_in_flight", self.lost_in_flight),
            ("received", self.received),
            ("malformed", self.malformed),
            ("outages", self.outages),
            ("reconnects", self.reconnects),
        ];
        for (name, value) in counters {
            writeln!(f, "# TYPE wsview_redis_{name}_total counter")?;
            writeln!(f, "wsview_redis_{name}_total {value}")?;
        }
        Ok(())
    }
}

/// A client for a `rediss://` URL: rustls (ring), the config's roots or the system's.
#[cfg(feature = "redis-tls")]
fn tls_client(
    config: &RedisConfig,
    info: redis::ConnectionInfo,
) -> Result<redis::Client, RedisConfigError> {
    use config::Roots;
    // The redis client builds its rustls config from the process's default provider:
    // make it ring (what the rest of wsview uses) unless the app chose one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root_cert =
        match &config.roots {
            None => None,
            Some(Roots::Pem(pem)) => Some(pem.clone()),
            Some(Roots::File(path)) => Some(std::fs::read(path).map_err(|e| {
                RedisConfigError(format!("root certificates {}: {e}", path.display()))
            })?),
        };
    if root_cert
        .as_deref()
        .is_some_and(|pem| !has_certificate(pem))
    {
        return Err(RedisConfigError(
            "root certificates: no PEM certificate found".to_owned(),
        ));
    }
    let client_tls = match &config.identity {
        None => None,
        Some(identity) => Some(client_identity(identity)?),
    };
    let certs = redis::TlsCertificates {
        client_tls,
        root_cert,
    };
    redis::Client::build_with_tls(info, certs)
        .map_err(|e| RedisConfigError(format!("TLS for {:?}: {e}", config.url_for_logs())))
}

/// The client certificate and key of a config, read and checked (see
/// [`has_certificate`]; the redis client refuses a bad key itself, but less clearly).
#[cfg(feature = "redis-tls")]
fn client_identity(
    identity: &config::Identity,
) -> Result<redis::ClientTlsConfig, RedisConfigError> {
    use config::Identity;
    use rustls_pki_types::pem::PemObject as _;
    // The PEM text and what errors call it (naming the file it came from).
    let from_file = |what: &str, path: &Option<std::path::PathBuf>| {
        // `check` refuses a missing file before this is reached.
        let path = path
            .as_ref()
            .ok_or_else(|| RedisConfigError(format!("client {what}: no file given")))?;
        let name = format!("client {what} {}", path.display());
        match std::fs::read(path) {
            Ok(pem) => Ok((pem, name)),
            Err(e) => Err(RedisConfigError(format!("{name}: {e}"))),
        }
    };
    let ((cert, cert_name), (key, key_name)) = match identity {
        Identity::Pem { cert, key } => (
            (cert.clone(), "client certificate".to_owned()),
            (key.clone(), "client key".to_owned()),
        ),
        Identity::Files { cert, key } => (from_file("certificate", cert)?, from_file("key", key)?),
    };
    if !has_certificate(&cert) {
        return Err(RedisConfigError(format!(
            "{cert_name}: no PEM certificate found"
        )));
    }
    if rustls_pki_types::PrivateKeyDer::from_pem_slice(&key).is_err() {
        return Err(RedisConfigError(format!(
            "{key_name}: no PEM private key found"
        )));
    }
    Ok(redis::ClientTlsConfig {
        client_cert: cert,
        client_key: key,
    })
}

/// Whether PEM text starts with a well-formed certificate. The redis client parses
/// them itself and refuses bad ones, but takes text with none in it as an empty list:
/// an empty root store that refuses every server, or an empty client chain that every
/// server asking for one refuses.
#[cfg(feature = "redis-tls")]
fn has_certificate(pem: &[u8]) -> bool {
    use rustls_pki_types::pem::PemObject as _;
    matches!(
        rustls_pki_types::CertificateDer::pem_slice_iter(pem).next(),
        Some(Ok(_))
    )
}

#[cfg(not(feature = "redis-tls"))]
fn tls_client(
    _: &RedisConfig,
    _: redis::ConnectionInfo,
) -> Result<redis::Client, RedisConfigError> {
    // `check` refuses rediss:// without the feature before this is reached.
    Err(RedisConfigError(
        "a rediss:// URL needs wsview's cargo feature `redis-tls`".to_owned(),
    ))
}

impl RedisLayer {
    /// A layer with this config. Nothing connects until the layer is attached to a
    /// registry (which calls [`GroupLayer::start`]); a Redis that is down then is
    /// retried with backoff, and local delivery works meanwhile.
    pub fn new(config: RedisConfig) -> Result<RedisLayer, RedisConfigError> {
        config.check()?;
        let info =
            config.url.as_str().into_connection_info().map_err(|e| {
                RedisConfigError(format!("bad url {:?}: {e}", config.url_for_logs()))
            })?;
        // RESP3: pub/sub messages arrive as pushes on the same multiplexed connection
        // that carries PUBLISH and the presence commands.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = if config.is_tls() {
            tls_client(&config, info)?
        } else {
            redis::Client::open(info).map_err(|e| {
                RedisConfigError(format!("bad url {:?}: {e}", config.url_for_logs()))
            })?
        };
        Ok(RedisLayer {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared::new(config)),
                client,
                queues: OnceLock::new(),
                start_failed: Mutex::new(false),
            }),
        })
    }

    /// The layer `WSVIEW_REDIS_URL` asks for (`None` when it is unset or empty), with
    /// the prefix from `WSVIEW_REDIS_PREFIX` if set. See [`RedisConfig::from_env`].
    pub fn from_env() -> Result<Option<RedisLayer>, RedisConfigError> {
        RedisConfig::from_env().map(RedisLayer::new).transpose()
    }

    /// The config this layer runs with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.shared.config
    }

    /// Whether the layer is connected to Redis now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.is_up()
    }

    /// Waits until the layer is connected to Redis (at once if it is): after
    /// [`start`](GroupLayer::start), or after an outage.
    pub async fn connected(&self) {
        let mut rx = self.inner.shared.link.subscribe();
        let _ = rx.wait_for(|up| *up).await;
    }

    /// Waits until the layer has noticed that Redis is unreachable (at once if it has).
    pub async fn disconnected(&self) {
        let mut rx = self.inner.shared.link.subscribe();
        let _ = rx.wait_for(|up| !*up).await;
    }

    /// Stops the layer: this process's members leave presence now (instead of expiring
    /// after `presence_ttl`), and sends to other processes are refused from then on.
    /// Waits at most a few command timeouts. Call it on a clean shutdown (dropping the
    /// registry while the runtime runs does the same without waiting).
    pub async fn close(&self) {
        let shared = &self.inner.shared;
        if self.queues().is_none() {
            return;
        }
        shared.stopped.store(true, Ordering::Release);
        shared.wake.notify_one();
        let mut rx = shared.finished.subscribe();
        let _ = tokio::time::timeout(shared.config.command_timeout * 4, rx.wait_for(|done| *done))
            .await;
    }

    /// The counters so far.
    pub fn stats(&self) -> RedisStats {
        let c = &self.inner.shared.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            connected: self.is_connected(),
            published: get(&c.published),
            refused_unavailable: get(&c.refused_unavailable),
            refused_full: get(&c.refused_full),
            refused_too_large: get(&c.refused_too_large),
            lost_in_flight: get(&c.lost_in_flight),
            received: get(&c.received),
            malformed: get(&c.malformed),
            outages: get(&c.outages),
            reconnects: get(&c.reconnects),
        }
    }

    /// Waits until Redis holds every subscription and presence change this process made
    /// before the call (a readiness check: sends from other processes to a group this
    /// process just got a member of reach it from then on). Waits through an outage.
    pub async fn synced(&self) {
        let target = self.inner.shared.wanted().generation;
        let mut rx = self.inner.shared.synced.subscribe();
        let _ = rx.wait_for(|done| *done >= target).await;
    }

    fn queues(&self) -> Option<&Queues> {
        self.inner.queues.get()
    }

    fn spawn(&self, sink: RemoteSink) -> Result<(), String> {
        let shared = &self.inner.shared;
        if shared.sink.set(sink).is_err() {
            return Err("started twice".into());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "start() was called outside a tokio runtime".to_owned())?;
        let _enter = runtime.enter();
        let config = &shared.config;
        let weak = Arc::downgrade(shared);
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.command_timeout))
            .set_response_timeout(Some(config.command_timeout))
            // The control task owns the reconnect loop (backoff, logging, resubscribe);
            // the manager makes one attempt per command.
            .set_number_of_retries(1)
            .set_min_delay(config.reconnect_min)
            .set_max_delay(config.reconnect_max)
            .set_push_sender(move |info: PushInfo| {
                on_push(&weak, info);
                Ok::<(), std::convert::Infallible>(())
            });
        let conn =
            ConnectionManager::new_lazy_with_config(self.inner.client.clone(), manager_config)
                .map_err(|e| e.to_string())?;
        let (publish, publish_rx) = mpsc::channel(config.queue_capacity);
        let (queries, queries_rx) = mpsc::channel(QUERY_QUEUE);
        runtime.spawn(publisher::run(Arc::clone(shared), conn.clone(), publish_rx));
        runtime.spawn(control::run(Arc::clone(shared), conn, queries_rx));
        let _ = self.inner.queues.set(Queues { publish, queries });
        Ok(())
    }
}

impl std::fmt::Debug for RedisLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLayer")
            .field("url", &self.inner.shared.config.url_for_logs())
            .field("prefix", &self.inner.shared.config.prefix)
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// Every push from Redis: messages on our channels go to the local members, a lost
/// connection starts the outage handling. Runs in the client's reader task: never waits.
fn on_push(shared: &Weak<Shared>, info: PushInfo) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    match info.kind {
        PushKind::Disconnection => shared.mark_down(&"the connection closed"),
        PushKind::Message => {
            let mut data = info.data.into_iter();
            let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                (data.next(), data.next())
            else {
                Counters::add(&shared.counters.malformed, 1);
                return;
            };
            let Some(target) = shared.keys.target_of(&channel) else {
                return;
            };
            match wire::decode(Bytes::from(payload), target) {
                Ok(envelope) if envelope.origin.to_u64() == shared.sender => {}
                Ok(envelope) => {
                    if let Some(sink) = shared.sink.get() {
                        Counters::add(&shared.counters.received, 1);
                        sink.deliver(envelope);
                    }
                }
                Err(why) => {
                    Counters::add(&shared.counters.malformed, 1);
                    tracing::debug!(
                        "redis group layer: ignored a message on a group channel: {why}"
                    );
                }
            }
        }
        _ => {}
    }
}

impl GroupLayer for RedisLayer {
    fn start(&self, sink: RemoteSink) {
        if let Err(why) = self.spawn(sink) {
            let mut failed = lock(&self.inner.start_failed);
            if !*failed {
                *failed = true;
                tracing::error!("redis group layer not started: {why}; groups stay local");
            }
        }
    }

    fn subscribe(&self, group: &str) {
        let shared = &self.inner.shared;
        let mut wanted = shared.wanted();
        if wanted.groups.insert(group.to_owned()) {
            wanted.toggled.insert(group.to_owned());
            shared.changed(wanted);
        }
    }

    fn unsubscribe(&self, group: &str) {
        let shared = &self.inner.shared;
        let mut wanted = shared.wanted();
        if wanted.groups.remove(group) {
            wanted.toggled.insert(group.to_owned());
            shared.changed(wanted);
        }
    }

    fn publish(&self, envelope: &Envelope) -> Result<(), LayerError> {
        let shared = &self.inner.shared;
        let counters = &shared.counters;
        let Some(queues) = self
            .queues()
            .filter(|_| shared.is_up() && !shared.stopped.load(Ordering::Acquire))
        else {
            Counters::add(&counters.refused_unavailable, 1);
            return Err(LayerError::unavailable("redis is not connected"));
        };
        let payload = match wire::encode(envelope, shared.sender, shared.config.max_message_bytes) {
            Ok(p) => p,
            Err(too_large) => {
                Counters::add(&counters.refused_too_large, 1);
                return Err(LayerError::other(too_large));
            }
        };
        let out = Outgoing {
            channel: shared.keys.channel(&envelope.target),
            payload,
        };
        match queues.publish.try_send(out) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                shared.refused_full();
                Err(LayerError::full())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(LayerError::closed()),
        }
    }

    fn presence_join(&self, group: &str, id: ConnectionId, name: Option<&str>) {
        let shared = &self.inner.shared;
        let mut wanted = shared.wanted();
        let id = id.to_u128();
        let members = wanted.members.entry(group.to_owned()).or_default();
        let old = members.insert(id, name.map(str::to_owned));
        if let Some(old) = old {
            if old.as_deref() == name {
                return;
            }
            // Renamed: the old entry goes.
            wanted.leave(group, presence::entry(id, old.as_deref()));
        }
        wanted.joins.insert((group.to_owned(), id));
        shared.changed(wanted);
    }

    fn presence_leave(&self, group: &str, id: ConnectionId) {
        let shared = &self.inner.shared;
        let mut wanted = shared.wanted();
        let id = id.to_u128();
        let Some(members) = wanted.members.get_mut(group) else {
            return;
        };
        let Some(name) = members.remove(&id) else {
            return;
        };
        if members.is_empty() {
            wanted.members.remove(group);
        }
        wanted.joins.remove(&(group.to_owned(), id));
        wanted.leave(group, presence::entry(id, name.as_deref()));
        shared.changed(wanted);
    }

    fn presence(&self, group: &str) -> BoxFuture<'static, Result<Presence, LayerError>> {
        let shared = &self.inner.shared;
        let Some(queues) = self.queues().filter(|_| shared.is_up()) else {
            return Box::pin(async { Err(LayerError::unavailable("redis is not connected")) });
        };
        let (reply, answer) = oneshot::channel();
        let query = Query {
            group: group.to_owned(),
            reply,
        };
        if let Err(e) = queues.queries.try_send(query) {
            let err = match e {
                mpsc::error::TrySendError::Full(_) => LayerError::full(),
                mpsc::error::TrySendError::Closed(_) => LayerError::closed(),
            };
            return Box::pin(async { Err(err) });
        }
        Box::pin(async move { answer.await.unwrap_or_else(|_| Err(LayerError::closed())) })
    }
}
