//! The Redis layer over TLS (`rediss://`, feature `redis-tls`) against a real
//! redis-server serving a certificate the test makes: layers that trust it share
//! groups; one that trusts another CA never connects; bad root certificates are
//! refused when the layer is made. With a server that asks for client certificates
//! (mutual TLS), a layer presenting one issued by the server's client CA connects and
//! one without never does.

#[path = "support/redis_server.rs"]
mod redis_server;
mod support;
#[path = "support/tls.rs"]
mod testcert;

use std::time::Duration;

use redis_server::RedisServer;
use support::within;
use testcert::TestCert;
use tokio::sync::mpsc;
use wsview::groups::redis::{RedisConfig, RedisLayer};
use wsview::groups::{Envelope, GroupLayer, NodeId, RemoteSink, Target};
use wsview::Message;

fn config(redis: &RedisServer, ca: &TestCert) -> RedisConfig {
    RedisConfig::new(redis.tls_url())
        .prefix("tls")
        .root_certificates(ca.cert_pem.clone())
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500))
        .command_timeout(Duration::from_millis(1000))
}

/// A started layer whose sink forwards what other processes sent into a channel.
fn started(config: RedisConfig) -> (RedisLayer, mpsc::UnboundedReceiver<Envelope>) {
    let layer = RedisLayer::new(config).expect("config");
    let (tx, rx) = mpsc::unbounded_channel();
    layer.start(RemoteSink::from_fn(move |e| {
        let _ = tx.send(e);
    }));
    (layer, rx)
}

#[tokio::test]
async fn layers_share_a_group_over_tls() {
    let cert = TestCert::new();
    let redis = RedisServer::start_tls(&cert.cert_path, &cert.key_path);
    let (a, _a_rx) = started(config(&redis, &cert));
    let (b, mut b_rx) = started(config(&redis, &cert));
    within(a.connected()).await;
    within(b.connected()).await;
    b.subscribe("room");
    within(b.synced()).await;
    for i in 0..100 {
        let envelope = Envelope {
            target: Target::Group("room".to_owned()),
            except: None,
            message: Message::text(format!("m{i}")),
            origin: NodeId::local(),
        };
        a.publish(&envelope).expect("handed off");
    }
    for i in 0..100 {
        let e = within(b_rx.recv()).await.expect("delivered");
        assert_eq!(e.message.as_text(), Some(format!("m{i}").as_str()));
    }
    // Only TLS reaches that port: a plain client gets no answer from it, so these
    // deliveries went over TLS.
    assert_eq!(a.stats().published, 100, "{}", a.stats());
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_layer_that_trusts_another_ca_does_not_connect() {
    let cert = TestCert::new();
    let other = TestCert::new();
    let redis = RedisServer::start_tls(&cert.cert_path, &cert.key_path);
    let (good, _) = started(config(&redis, &cert));
    let (bad, _) = started(config(&redis, &other));
    within(good.connected()).await;
    // A deliberate time-bounded negative check: several connection attempts (backoff
    // 50-500 ms) fit in it; it could miss a bug that connects late, never fail a
    // working layer.
    let connected = tokio::time::timeout(Duration::from_secs(2), bad.connected()).await;
    assert!(
        connected.is_err(),
        "connected with an untrusted certificate"
    );
    assert!(!bad.stats().connected);
    let refused = bad.publish(&Envelope {
        target: Target::All,
        except: None,
        message: Message::text("x"),
        origin: NodeId::local(),
    });
    assert!(refused.is_err(), "a send while not connected is refused");
    good.close().await;
    bad.close().await;
}

#[test]
fn bad_root_certificates_are_refused_when_the_layer_is_made() {
    let url = "rediss://127.0.0.1:1";
    let not_pem = RedisConfig::new(url).root_certificates("no certificate here");
    let err = RedisLayer::new(not_pem).expect_err("no certificate");
    assert!(err.to_string().contains("root certificates"), "{err}");

    let missing = RedisConfig::new(url).root_certificates_file("/nonexistent/ca.pem");
    let err = RedisLayer::new(missing).expect_err("no file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

    let plain = RedisConfig::new("redis://127.0.0.1:1").root_certificates("x");
    let err = RedisLayer::new(plain).expect_err("roots without TLS");
    assert!(err.to_string().contains("not rediss://"), "{err}");

    let cert = TestCert::new();
    let ok = RedisConfig::new(url).root_certificates(cert.cert_pem.clone());
    assert!(RedisLayer::new(ok).is_ok());
    let from_file = RedisConfig::new(url).root_certificates_file(&cert.cert_path);
    assert!(RedisLayer::new(from_file).is_ok());
}

/// Mutual TLS: the server asks every client for a certificate issued by its client CA
/// (here the client's own self-signed certificate). A layer presenting it (from PEM
/// text, and from files) connects and delivers; one presenting none never connects.
#[tokio::test]
async fn a_server_that_asks_for_client_certificates_gets_one() {
    let server_cert = TestCert::new();
    let client_cert = TestCert::new();
    let redis = RedisServer::start_mutual_tls(
        &server_cert.cert_path,
        &server_cert.key_path,
        &client_cert.cert_path,
    );
    let with_pem = config(&redis, &server_cert)
        .client_certificate(client_cert.cert_pem.clone(), client_cert.key_pem.clone());
    let with_files = config(&redis, &server_cert)
        .client_certificate_files(&client_cert.cert_path, &client_cert.key_path);
    let (a, _a_rx) = started(with_pem);
    let (b, mut b_rx) = started(with_files);
    let (anonymous, _) = started(config(&redis, &server_cert));
    within(a.connected()).await;
    within(b.connected()).await;
    b.subscribe("room");
    within(b.synced()).await;
    a.publish(&Envelope {
        target: Target::Group("room".to_owned()),
        except: None,
        message: Message::text("hello"),
        origin: NodeId::local(),
    })
    .expect("handed off");
    let e = within(b_rx.recv()).await.expect("delivered");
    assert_eq!(e.message.as_text(), Some("hello"));
    // As above: a bounded negative check, several attempts fit in it.
    let connected = tokio::time::timeout(Duration::from_secs(2), anonymous.connected()).await;
    assert!(connected.is_err(), "connected without a client certificate");
    a.close().await;
    b.close().await;
    anonymous.close().await;
}

#[test]
fn bad_client_certificates_are_refused_when_the_layer_is_made() {
    let url = "rediss://127.0.0.1:1";
    let cert = TestCert::new();
    let no_cert = RedisConfig::new(url).client_certificate("nothing", cert.key_pem.clone());
    let err = RedisLayer::new(no_cert).expect_err("no certificate");
    assert!(err.to_string().contains("client certificate"), "{err}");

    let no_key = RedisConfig::new(url).client_certificate(cert.cert_pem.clone(), "nothing");
    let err = RedisLayer::new(no_key).expect_err("no key");
    assert!(err.to_string().contains("client key"), "{err}");

    let missing =
        RedisConfig::new(url).client_certificate_files("/nonexistent/c.pem", &cert.key_path);
    let err = RedisLayer::new(missing).expect_err("no file");
    assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");

    let plain = RedisConfig::new("redis://127.0.0.1:1")
        .client_certificate(cert.cert_pem.clone(), cert.key_pem.clone());
    let err = RedisLayer::new(plain).expect_err("a certificate without TLS");
    assert!(err.to_string().contains("not rediss://"), "{err}");

    let ok = RedisConfig::new(url).client_certificate(cert.cert_pem.clone(), cert.key_pem.clone());
    assert!(RedisLayer::new(ok).is_ok());
    let debug = format!(
        "{:?}",
        RedisConfig::new(url).client_certificate("c", "SECRET-KEY")
    );
    assert!(!debug.contains("SECRET-KEY"), "{debug}");
}
