//! Durability against a crash (SPEC §3: "a crash after the ack loses nothing"): the real
//! `sala` binary is killed with SIGKILL while clients send, then restarted on the same data
//! dir. Every acked message must be in the history exactly once, ids strictly increasing,
//! and re-sending unacked messages with the same `client_id` must create no duplicates.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::{Server, WAIT, connect, token};

const USERS: usize = 4;
const PER_USER: usize = 150;

fn send_frame(user: usize, n: usize) -> Message {
    Message::text(json!({"type": "send", "room": "general", "text": format!("u{user} n{n}"), "client_id": format!("u{user}-{n}")}).to_string())
}

/// All of general's history, oldest first, paged forward with `after`.
async fn history(http: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!(
                "{base}/api/rooms/general/messages?after={after}&limit=200"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let messages = page["messages"].as_array().unwrap().clone();
        if let Some(last) = messages.last() {
            after = last["id"].as_i64().unwrap();
        }
        all.extend(messages);
        if page["more"] == false {
            return all;
        }
    }
}

#[tokio::test]
async fn acked_messages_survive_sigkill_and_resends_do_not_duplicate() {
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut server = Server::start(data_dir.path(), &[]);
    let base = server.base.clone();
    let mut tokens = Vec::new();
    for user in 0..USERS {
        tokens.push(token(&http, &base, &format!("crash{user}"), true).await);
    }

    // Every user pipelines its sends; acks are recorded as they arrive.
    let acked: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let (enough_tx, mut enough) = tokio::sync::mpsc::channel::<()>(USERS * PER_USER);
    let mut clients = Vec::new();
    for (user, token) in tokens.iter().enumerate() {
        let socket = connect(&base, token).await;
        let (mut sink, mut stream) = socket.split();
        let acked = acked.clone();
        let enough_tx = enough_tx.clone();
        clients.push(tokio::spawn(async move {
            let sending = async {
                for n in 0..PER_USER {
                    if sink.send(send_frame(user, n)).await.is_err() {
                        return;
                    }
                }
            };
            let reading = async {
                while let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, stream.next()).await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    if frame["type"] == "ack" {
                        let client_id = frame["client_id"].as_str().unwrap().to_owned();
                        acked
                            .lock()
                            .unwrap()
                            .insert(client_id, frame["id"].as_i64().unwrap());
                        let _ = enough_tx.try_send(());
                    }
                }
            };
            tokio::join!(sending, reading);
        }));
    }
    drop(enough_tx);
    // Kill mid-stream: once a quarter of all messages have been acked.
    for _ in 0..USERS * PER_USER / 4 {
        enough.recv().await.expect("acks keep coming");
    }
    server.kill();
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= USERS * PER_USER / 4);

    let server = Server::start(data_dir.path(), &[]);
    let base = server.base.clone();
    let token0 = token(&http, &base, "crash0", false).await;
    let stored = history(&http, &base, &token0).await;
    let ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids strictly increase"
    );
    let by_client_id: BTreeMap<String, i64> = stored
        .iter()
        .map(|m| {
            (
                m["client_id"].as_str().unwrap().to_owned(),
                m["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_client_id.len(),
        stored.len(),
        "each client_id stored once"
    );
    for (client_id, id) in &acked {
        assert_eq!(
            by_client_id.get(client_id),
            Some(id),
            "acked {client_id} (id {id}) is stored"
        );
    }

    // Clients resend everything they have no ack for, with the same client_ids, plus a
    // few that were acked (as a client that lost the ack would).
    // Tokens from before the crash still work: sessions are stored too.
    for (user, token) in tokens.iter().enumerate() {
        let mut socket = connect(&base, token).await;
        let resend: Vec<usize> = (0..PER_USER)
            .filter(|n| !acked.contains_key(&format!("u{user}-{n}")) || n % 10 == 0)
            .collect();
        for n in &resend {
            socket.send(send_frame(user, *n)).await.unwrap();
        }
        let mut acks = 0;
        while acks < resend.len() {
            let frame = tokio::time::timeout(WAIT, socket.next())
                .await
                .expect("ack in time")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = frame
                && serde_json::from_str::<Value>(text.as_str()).unwrap()["type"] == "ack"
            {
                acks += 1;
            }
        }
    }
    let stored = history(&http, &base, &token0).await;
    assert_eq!(
        stored.len(),
        USERS * PER_USER,
        "every message stored exactly once"
    );
    let mut client_ids: Vec<&str> = stored
        .iter()
        .map(|m| m["client_id"].as_str().unwrap())
        .collect();
    client_ids.sort_unstable();
    client_ids.dedup();
    assert_eq!(client_ids.len(), USERS * PER_USER);
    for (client_id, id) in &acked {
        assert!(
            stored
                .iter()
                .any(|m| m["client_id"] == client_id.as_str() && m["id"] == *id)
        );
    }
}
