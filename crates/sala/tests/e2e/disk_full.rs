//! A full disk (issue #10): the real `sala` binary keeps its SQLite database on a small
//! tmpfs, and the test fills that filesystem to the last byte while a client sends.
//!
//! Sends then get `error` `unavailable` (naming their `client_id`), HTTP writes get 503,
//! nothing is acked that was not stored, and once space is freed the same node stores
//! again, without a restart, and the refused messages resent with their `client_id`s are
//! stored once.
//!
//! Mounting needs root (scripts/test.sh runs as root); the test is ignored otherwise.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Server, Socket, WAIT, connect, token};

/// A tmpfs mounted on a temporary folder, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "sala-test"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `filler` until the filesystem is full, to the last byte.
    fn fill(filler: &mut std::fs::File) {
        for chunk in [1 << 20, 1 << 12, 1] {
            let bytes = vec![0u8; chunk];
            while filler.write_all(&bytes).is_ok() {}
        }
        // tmpfs takes data into the page cache at write time: a failed write means full.
        let error = filler.write_all(&[0]);
        assert_eq!(
            error.map_err(|err| err.raw_os_error()),
            Err(Some(28)),
            "ENOSPC"
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.dir.path()).status();
        if !matches!(unmounted, Ok(status) if status.success()) {
            eprintln!(
                "could not unmount {}: {unmounted:?}",
                self.dir.path().display()
            );
        }
    }
}

/// Sends one message and waits for its ack (`Ok(id)`) or its error (`Err(code)`).
async fn send(socket: &mut Socket, client_id: &str) -> Result<i64, String> {
    let frame = json!({"type": "send", "room": "general", "text": format!("text of {client_id}"),
        "client_id": client_id});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let Message::Text(text) = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("an answer in time")
            .expect("open")
            .expect("a frame")
        else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        match frame["type"].as_str() {
            Some("ack") => {
                assert_eq!(frame["client_id"], client_id);
                return Ok(frame["id"].as_i64().unwrap());
            }
            Some("error") => {
                assert_eq!(frame["client_id"], client_id, "{frame}");
                return Err(frame["code"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
    }
}

async fn stored_client_ids(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> BTreeMap<String, i64> {
    crate::common::history(http, base, token, "general")
        .await
        .iter()
        .map(|m| {
            (
                m["client_id"].as_str().unwrap().to_owned(),
                m["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs root to mount a small tmpfs"]
async fn a_full_disk_refuses_sends_acks_nothing_unstored_and_recovers_by_itself() {
    let disk = SmallDisk::mount("16m");
    let mut server = Server::start(disk.path(), &[]);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let token = token(&http, &server.base, "filler", true).await;
    let mut socket = connect(&server.base, &token).await;
    let mut acked = BTreeMap::new();
    for n in 0..20 {
        let client_id = format!("before-{n}");
        acked.insert(
            client_id.clone(),
            send(&mut socket, &client_id).await.unwrap(),
        );
    }

    let filler_path = disk.path().join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    SmallDisk::fill(&mut filler);
    // SQLite may still reuse pages it already holds (its WAL), and gives back what a failed
    // write took, so the filler takes up any room freed after each answer. Every answer is
    // an ack or `unavailable`, never anything else.
    let mut refused = Vec::new();
    for n in 0..5000 {
        let client_id = format!("full-{n}");
        let answer = send(&mut socket, &client_id).await;
        SmallDisk::fill(&mut filler);
        match answer {
            Ok(id) => {
                acked.insert(client_id, id);
            }
            Err(code) => {
                assert_eq!(code, "unavailable");
                refused.push(client_id);
                if refused.len() == 10 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused.len(), 10, "the full disk was noticed");
    // An HTTP write answers 201 only if it stored the row, 503 `unavailable` otherwise
    // (a small row may still fit where a message batch did not).
    let register = http
        .post(format!("{}/api/register", server.base))
        .json(&json!({"username": "late-comer", "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap();
    let registered = match register.status().as_u16() {
        201 => true,
        503 => {
            let body: Value = register.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unavailable");
            false
        }
        other => panic!("register on a full disk answered {other}"),
    };
    // Reads still work, and show exactly what was acked.
    let stored = stored_client_ids(&http, &server.base, &token).await;
    assert_eq!(stored, acked, "acked = stored, while the disk is full");

    // Space comes back: the same node, the same connection, stores again.
    drop(filler);
    std::fs::remove_file(filler_path).unwrap();
    for client_id in &refused {
        let id = send(&mut socket, client_id)
            .await
            .expect("stored once the disk has room");
        acked.insert(client_id.clone(), id);
    }
    acked.insert("after".into(), send(&mut socket, "after").await.unwrap());
    let stored = stored_client_ids(&http, &server.base, &token).await;
    assert_eq!(stored, acked, "every acked message, once, and nothing else");
    let login = http
        .post(format!("{}/api/login", server.base))
        .json(&json!({"username": "late-comer", "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status() == 200,
        registered,
        "201 meant stored, 503 meant not"
    );
    eprintln!(
        "disk full after {} more acks; {} refused then stored on resend; register on the \
         full disk: {}",
        acked.len() - 20 - refused.len() - 1,
        refused.len(),
        if registered { 201 } else { 503 }
    );
    server.stop();

    // A read-only filesystem (remounting needs the files closed, so between two runs): the
    // node refuses to start, with the reason, rather than serve and fail every write.
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(disk.path())
        .status()
        .unwrap();
    assert!(remount.success());
    let refused = Command::new(env!("CARGO_BIN_EXE_sala"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(disk.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "a read-only database does not start"
    );
    assert!(stderr.contains("database"), "the reason is given: {stderr}");
    eprintln!(
        "read-only: {}",
        stderr
            .lines()
            .find(|line| line.contains("database"))
            .unwrap_or_default()
    );
}
