//! `sala chat` in line mode against a real server (SPEC §6): pipes in, lines out.

mod common;

use common::{LineClient, Server, token};
use serde_json::Value;

fn is_message_line(line: &str, room: &str, user: &str, text: &str) -> bool {
    // [HH:MM:SS] #room user: text
    let bytes = line.as_bytes();
    line.len() > 11
        && bytes[0] == b'['
        && bytes[3] == b':'
        && bytes[6] == b':'
        && bytes[9] == b']'
        && line[1..9].chars().filter(char::is_ascii_digit).count() == 6
        && line[10..] == format!(" #{room} {user}: {text}")
}

#[test]
fn two_line_clients_exchange_messages_through_pipes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut bob = LineClient::start(&server.base, "bob", "general");
    let mut alice = LineClient::start(&server.base, "alice", "general");

    alice.say("hello bob");
    let line = bob.wait_for("alice: hello bob");
    assert!(
        is_message_line(&line, "general", "alice", "hello bob"),
        "{line}"
    );
    bob.say("hi alice");
    let line = alice.wait_for("bob: hi alice");
    assert!(
        is_message_line(&line, "general", "bob", "hi alice"),
        "{line}"
    );

    let (status, _) = alice.finish();
    assert!(status.success(), "{status}");
    let (status, _) = bob.finish();
    assert!(status.success(), "{status}");
}

#[test]
fn eof_exits_0_only_after_every_line_is_acked() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut carol = LineClient::start(&server.base, "carol", "general");
    let texts: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    for text in &texts {
        carol.say(text);
    }
    // EOF right away: the client must not exit before the server has stored them all.
    let (status, _) = carol.finish();
    assert!(status.success(), "{status}");

    let stored = history(&server.base, "carol");
    assert_eq!(stored, texts, "all 100, once each, in order");
}

#[test]
fn a_line_client_resumes_after_a_server_restart_without_gaps() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), &[]);
    let port = server.port.to_string();
    let mut dave = LineClient::start(&server.base, "dave", "general");
    let mut erin = LineClient::start(&server.base, "erin", "general");
    erin.say("before");
    dave.wait_for("erin: before");

    server.stop();
    // While the server is down erin keeps typing; the lines are sent once it is back.
    erin.say("while down");
    let server = Server::start(data.path(), &["--port", &port]);
    for i in 0..5 {
        erin.say(&format!("after {i}"));
    }
    dave.wait_for("erin: after 4");
    let (status, _) = erin.finish();
    assert!(status.success());
    let (status, seen) = dave.finish();
    assert!(status.success());

    let from_erin: Vec<&str> = seen
        .iter()
        .filter_map(|line| line.split_once("] #general erin: ").map(|(_, text)| text))
        .collect();
    assert_eq!(
        from_erin,
        [
            "before",
            "while down",
            "after 0",
            "after 1",
            "after 2",
            "after 3",
            "after 4"
        ],
        "{seen:#?}"
    );
    assert_eq!(history(&server.base, "dave").len(), 7);
}

#[test]
fn clear_one_line_errors() {
    // No server listening: one line on stderr, exit 1, no panic.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sala"))
        .args([
            "chat",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--user",
            "nobody",
        ])
        .env("SALA_PASSWORD", "whatever-password")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
    assert!(!stderr.contains("panicked"));

    // Bad credentials.
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sala"))
        .args(["chat", "--server", &server.base, "--user", "nobody"])
        .env("SALA_PASSWORD", "whatever-password")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim(), "sala chat: invalid username or password");

    // No password given.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sala"))
        .args(["chat", "--server", &server.base, "--user", "nobody"])
        .env_remove("SALA_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SALA_PASSWORD"));
}

/// The texts of general's history, read over HTTP as `user`.
fn history(base: &str, user: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let token = token(&http, base, user, false).await;
        let page: Value = http
            .get(format!("{base}/api/rooms/general/messages?limit=200"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    })
}
