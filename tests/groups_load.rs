//! Groups under load, over real sockets: a member that never reads while 10,000
//! messages go to its room, and 2,000 members receiving one broadcast. Their own test
//! binary, so the memory reading is not disturbed by other tests.

mod support;

use futures_util::future::join_all;
use support::{next_data, start, within, Client, TestServer};
use tokio::sync::watch;
use wsview::groups::Groups;
use wsview::{require_websocket, App, Request, Response};

async fn member(mut req: Request) -> Response {
    let groups = req.state::<Groups>().cloned().expect("groups in state");
    let room = req.param("room").unwrap_or_default().to_owned();
    let Some(ws) = req.websocket() else {
        return Response::empty();
    };
    if ws.accept().await.is_err() {
        return Response::empty();
    }
    groups.add(&room, &ws.sender());
    if ws.send("in").await.is_err() {
        return Response::empty();
    }
    while ws.wait().await.is_some() {}
    Response::empty()
}

fn app(groups: Groups) -> App {
    App::new()
        .state(groups)
        .route("/member/{room}", require_websocket(member))
}

async fn join(srv: &TestServer, room: &str) -> Client {
    let mut ws = srv.connect(&format!("/member/{room}")).await;
    let ack = next_data(&mut ws).await.expect("join acknowledgement");
    assert_eq!(ack.to_text().ok(), Some("in"));
    ws
}

/// This process's resident set size, from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// The two tests run one at a time: the memory reading must not see the other's 2,000
/// connections.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MESSAGES: usize = 10_000;
const SIZE: usize = 4096;
/// Sent before waiting for the readers to catch up: well inside the send queue (64).
const BATCH: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_reads_loses_messages_alone_and_memory_stays_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let groups = Groups::new();
    let srv = start(app(groups.clone())).await;
    // Never polled: its socket's buffers fill, then its send queue.
    let _slow = join(&srv, "busy").await;
    let mut readers = Vec::new();
    let mut progress = Vec::new();
    for _ in 0..2 {
        let mut ws = join(&srv, "busy").await;
        let (tx, rx) = watch::channel(0usize);
        progress.push(rx);
        readers.push(tokio::spawn(async move {
            for i in 0..MESSAGES {
                let msg = next_data(&mut ws).await.expect("message");
                let text = msg.to_text().expect("text");
                assert_eq!(text.len(), SIZE);
                assert_eq!(&text[..8], format!("{i:08}"), "out of order or lost");
                let _ = tx.send(i + 1);
            }
            ws
        }));
    }
    let rss_before = rss_bytes();
    let pad = "p".repeat(SIZE - 8);
    let (mut reached, mut dropped, mut sends) = (0usize, 0usize, 0u64);
    for start in (0..MESSAGES).step_by(BATCH) {
        for i in start..(start + BATCH).min(MESSAGES) {
            let r = groups.send("busy", format!("{i:08}{pad}"));
            assert!(r.reached >= 2, "a reader missed message {i}: {r:?}");
            assert_eq!(r.reached + r.dropped, 3);
            reached += r.reached;
            dropped += r.dropped;
            sends += 1;
        }
        // Pace on the readers (not on the slow member): every reader has the batch.
        let upto = (start + BATCH).min(MESSAGES);
        for rx in progress.iter_mut() {
            within(rx.wait_for(|n| *n >= upto))
                .await
                .expect("reader alive");
        }
    }
    let rss_after = rss_bytes();
    for r in readers {
        within(r).await.expect("reader task");
    }
    // 40 MB went to the slow member; it holds at most its queue and socket buffers.
    let sent_to_slow = (MESSAGES * SIZE) as u64;
    let growth = rss_after.saturating_sub(rss_before);
    assert!(
        growth < sent_to_slow / 2,
        "RSS grew {growth} bytes while {sent_to_slow} went to a member that never reads"
    );
    assert!(dropped > MESSAGES / 2, "only {dropped} drops counted");
    let snap = groups.snapshot();
    let busy = snap.group("busy").expect("group");
    assert_eq!(busy.sends, sends);
    assert_eq!(busy.reached, reached as u64);
    assert_eq!(busy.dropped, dropped as u64);
    assert_eq!(snap.total.dropped, dropped as u64);
    eprintln!(
        "slow member: {dropped} of {MESSAGES} dropped; RSS grew {} KiB while {} KiB went to it",
        growth / 1024,
        sent_to_slow / 1024
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_members_each_receive_a_broadcast() {
    const N: usize = 2000;
    let _one = ONE_AT_A_TIME.lock().await;
    let groups = Groups::new();
    let srv = start(app(groups.clone())).await;
    let mut clients = Vec::with_capacity(N);
    // A hundred handshakes at a time.
    for _ in 0..N / 100 {
        clients.extend(join_all((0..100).map(|_| join(&srv, "crowd"))).await);
    }
    assert_eq!(groups.members("crowd"), N);
    let r = groups.broadcast("to all two thousand");
    assert_eq!((r.reached, r.dropped, r.closed), (N, 0, 0));
    let r = groups.send("crowd", "to the room");
    assert_eq!(r.reached, N);
    let got = within(join_all(clients.iter_mut().map(|ws| async move {
        let a = next_data(ws).await.map(|m| m.into_text().ok());
        let b = next_data(ws).await.map(|m| m.into_text().ok());
        (a, b)
    })))
    .await;
    for (a, b) in got {
        assert_eq!(a.flatten().as_deref(), Some("to all two thousand"));
        assert_eq!(b.flatten().as_deref(), Some("to the room"));
    }
    drop(clients);
    support::within(async {
        loop {
            let changed = groups.changed();
            if groups.connections() == 0 {
                break;
            }
            changed.await;
        }
    })
    .await;
    srv.stop().await;
}
