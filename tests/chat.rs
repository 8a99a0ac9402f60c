//! The chat example's interface, over real sockets with tokio-tungstenite's client:
//! the JSON of joins, leaves and messages, generated names, `GET /rooms/{room}`.

mod support;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{next_data, send_text, start, within, Client, TestServer};
use wsview::groups::Groups;

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

async fn json_msg(ws: &mut Client) -> Value {
    let msg = next_data(ws).await.expect("a message");
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

async fn room(srv: &TestServer, room: &str) -> Value {
    let (status, body) = srv.get(&format!("/rooms/{room}")).await;
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("JSON")
}

async fn until_members(groups: &Groups, room: &str, n: usize) {
    within(async {
        loop {
            let changed = groups.changed();
            if groups.members(room) == n {
                return;
            }
            changed.await;
        }
    })
    .await
}

#[tokio::test]
async fn the_chat_interface() {
    let groups = Groups::new();
    let srv = start(chat::app(wsview::Settings::default(), groups.clone())).await;
    let (status, page) = srv.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>wsview chat</title>"));
    assert_eq!(room(&srv, "r1").await, json!({"room": "r1", "members": 0}));

    // A member sees its own join, with the count after it.
    let mut ann = srv.connect("/chat/r1?name=Ann").await;
    assert_eq!(
        json_msg(&mut ann).await,
        json!({"type": "join", "room": "r1", "name": "Ann", "members": 1})
    );
    // No name: the server makes one up, and says it in the join.
    let mut anon = srv.connect("/chat/r1").await;
    let join = json_msg(&mut anon).await;
    let guest = join["name"].as_str().expect("a name").to_owned();
    assert!(guest.starts_with("guest-"), "{join}");
    assert_eq!(join["members"], 2);
    assert_eq!(json_msg(&mut ann).await, join);
    assert_eq!(room(&srv, "r1").await, json!({"room": "r1", "members": 2}));

    // A line goes to every member, the sender included.
    send_text(&mut ann, "hello, \"world\"").await;
    let line = json!({"type": "message", "room": "r1", "from": "Ann", "text": "hello, \"world\""});
    assert_eq!(json_msg(&mut ann).await, line);
    assert_eq!(json_msg(&mut anon).await, line);

    // Another room hears nothing of it.
    let mut bo = srv.connect("/chat/r2?name=Bo").await;
    assert_eq!(json_msg(&mut bo).await["members"], 1);
    send_text(&mut bo, "only r2").await;
    assert_eq!(json_msg(&mut bo).await["text"], "only r2");

    // Leaving tells the others, with the count after it.
    within(anon.close(None)).await.expect("close");
    assert_eq!(
        json_msg(&mut ann).await,
        json!({"type": "leave", "room": "r1", "name": guest, "members": 1})
    );
    until_members(&groups, "r1", 1).await;
    assert_eq!(room(&srv, "r1").await, json!({"room": "r1", "members": 1}));
    // The next thing Ann gets is her own next line: nothing from r2 leaked in.
    send_text(&mut ann, "still here").await;
    assert_eq!(json_msg(&mut ann).await["text"], "still here");
    assert_eq!(groups.snapshot().total.dropped, 0);
    for mut ws in [ann, bo] {
        within(ws.close(None)).await.expect("close");
        while let Some(Ok(_)) = within(ws.next()).await {} // the server's reply
    }
    srv.stop().await;
}
