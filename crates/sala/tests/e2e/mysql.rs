//! The `sala` binary on MySQL (issue 22), where the database fails: down when the node
//! starts, refusing its password, or killed while clients send and brought back.
//!
//! The outage test runs a MariaDB server of its own (Debian's `mariadb-server`, a fresh data
//! dir in a temporary folder, a free loopback port), since it kills it; the others use the
//! one `scripts/test.sh` starts (`SALA_TEST_MYSQL_URL`).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Server, Socket, WAIT, connect, history, token};

/// How long a start may take before the test gives up on it.
const START_LIMIT: Duration = Duration::from_secs(60);

/// `sala serve` that is expected to fail at start: its exit status and stderr.
fn serve_and_fail(database_url: &str) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sala"))
        .args([
            "serve",
            "--port",
            "0",
            "--database-url",
            database_url,
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sala starts");
    let deadline = Instant::now() + START_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sala did not give up within {START_LIMIT:?}");
        }
        // Polling the child: there is no event to await for a process's exit here.
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[test]
fn a_database_down_at_start_is_named_and_the_node_exits_non_zero() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let (status, stderr) = serve_and_fail(&format!("mysql://sala:secret@127.0.0.1:{port}/sala"));
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("opening the MySQL database"), "{stderr}");
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is never printed: {stderr}"
    );
}

#[test]
#[ignore = "needs MariaDB"]
fn a_wrong_password_stops_the_node_with_the_servers_reason() {
    let url = std::env::var("SALA_TEST_MYSQL_URL").expect("SALA_TEST_MYSQL_URL");
    let url = url.replacen("sala:sala@", "sala:not-the-password@", 1);
    let (status, stderr) = serve_and_fail(&format!("{url}mysql"));
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("opening the MySQL database"), "{stderr}");
    assert!(stderr.contains("Access denied"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}

/// A MariaDB server of this test's own, durable (the defaults: each commit flushed), that it
/// may kill and start again on the same data.
struct OwnMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl OwnMariaDb {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        if as_root {
            // The server runs as `mysql`, and must reach its data dir.
            let chown = Command::new("chown").arg("mysql:").arg(dir.path()).status();
            assert!(chown.unwrap().success());
        }
        let installed = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .args(as_root.then_some("--user=mysql"))
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db runs (Debian's mariadb-server)");
        assert!(installed.success(), "mariadb-install-db");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let mut server = Self {
            dir,
            port,
            child: None,
        };
        server.run();
        let created = Command::new("mariadb")
            .args(["--no-defaults", "-u", "root", "--socket"])
            .arg(server.socket())
            .args(["-e", "CREATE DATABASE sala"])
            .status()
            .unwrap();
        assert!(created.success(), "CREATE DATABASE");
        server
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    fn url(&self) -> String {
        format!(
            "mysql://root@localhost/sala?socket={}",
            self.socket().display()
        )
    }

    /// Starts the server on its data dir and port, and waits until it answers.
    fn run(&mut self) {
        let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .args(as_root.then_some("--user=mysql"))
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
            ])
            .arg(format!(
                "--log-error={}",
                self.dir.path().join("error.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let ping = Command::new("mariadb-admin")
                .args(["--no-defaults", "-u", "root", "--socket"])
                .arg(self.socket())
                .arg("ping")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if ping.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "MariaDB answers within {START_LIMIT:?}"
            );
            // Polling: mariadbd signals readiness on no channel a test can await.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: the database crashes.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for OwnMariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `client_ids` at once, then reads one answer for each: `Ok(id)` for an ack,
/// `Err(code)` for an error naming it.
async fn send_all(
    socket: &mut Socket,
    client_ids: &[String],
) -> BTreeMap<String, Result<i64, String>> {
    for client_id in client_ids {
        let frame = json!({"type": "send", "room": "general",
            "text": format!("text of {client_id}"), "client_id": client_id});
        socket.send(Message::text(frame.to_string())).await.unwrap();
    }
    let mut answers = BTreeMap::new();
    while answers.len() < client_ids.len() {
        let Message::Text(text) = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("an answer in time")
            .expect("open")
            .expect("a frame")
        else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        let client_id = frame["client_id"].as_str().unwrap_or_default().to_owned();
        match frame["type"].as_str() {
            Some("ack") => {
                answers.insert(client_id, Ok(frame["id"].as_i64().unwrap()));
            }
            Some("error") => {
                assert!(
                    client_ids.contains(&client_id),
                    "an error names its send: {frame}"
                );
                answers.insert(client_id, Err(frame["code"].as_str().unwrap().to_owned()));
            }
            _ => {}
        }
    }
    answers
}

async fn stored(http: &reqwest::Client, base: &str, token: &str) -> BTreeMap<String, i64> {
    history(http, base, token, "general")
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
#[ignore = "needs MariaDB"]
async fn a_database_killed_under_traffic_refuses_sends_acks_nothing_unstored_and_recovers() {
    let mut database = OwnMariaDb::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--database-url", &database.url()]);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let token = token(&http, &server.base, "outlast", true).await;
    let mut socket = connect(&server.base, &token).await;
    let mut acked = BTreeMap::new();
    let before: Vec<String> = (0..20).map(|n| format!("before-{n}")).collect();
    for (client_id, answer) in send_all(&mut socket, &before).await {
        acked.insert(client_id, answer.expect("acked while the database is up"));
    }

    database.kill();
    let during: Vec<String> = (0..5).map(|n| format!("during-{n}")).collect();
    let answers = send_all(&mut socket, &during).await;
    for (client_id, answer) in &answers {
        assert_eq!(answer, &Err("unavailable".to_owned()), "{client_id}");
    }
    let register = http
        .post(format!("{}/api/register", server.base))
        .json(&json!({"username": "while-down", "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        register.status(),
        503,
        "an HTTP write while the database is down"
    );

    // The database comes back: the same node, the same socket, stores again. The pool
    // finds out its connections died as it uses them, so the first resend may still be
    // refused; each is resent with its client_id until acked, as a client would.
    database.run();
    let deadline = Instant::now() + START_LIMIT;
    for client_id in &during {
        loop {
            match send_all(&mut socket, std::slice::from_ref(client_id))
                .await
                .remove(client_id)
            {
                Some(Ok(id)) => {
                    acked.insert(client_id.clone(), id);
                    break;
                }
                Some(Err(code)) => {
                    assert_eq!(code, "unavailable");
                    assert!(
                        Instant::now() < deadline,
                        "the node stores again within {START_LIMIT:?}; MariaDB's log:\n{}",
                        database.log()
                    );
                }
                None => unreachable!("send_all answers every send"),
            }
        }
    }
    let after = send_all(&mut socket, &["after".to_owned()]).await;
    acked.insert("after".to_owned(), after["after"].clone().expect("acked"));
    assert_eq!(
        stored(&http, &server.base, &token).await,
        acked,
        "every acked message once, and nothing else"
    );
    drop(server);
}
