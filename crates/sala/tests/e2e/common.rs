//! What the binary's tests share: a `sala serve` process, and a `sala chat` process in line
//! mode with its output read line by line.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub const WAIT: Duration = Duration::from_secs(20);
/// Every test account's password.
pub const PASSWORD: &str = "correct horse battery";

/// Logs `username` in (registering first if asked) and returns the token.
pub async fn token(http: &reqwest::Client, base: &str, username: &str, register: bool) -> String {
    let body = json!({"username": username, "password": PASSWORD});
    if register {
        let registered = http
            .post(format!("{base}/api/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
    }
    let login: Value = http
        .post(format!("{base}/api/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"].as_str().expect("token").to_owned()
}

/// A room's whole history, oldest first, paged forward with `after`.
pub async fn history(http: &reqwest::Client, base: &str, token: &str, room: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!(
                "{base}/api/rooms/{room}/messages?after={after}&limit=200"
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

/// One sample of the node's `/metrics` (`sample` is the line up to its value), if present.
pub async fn metric(http: &reqwest::Client, base: &str, sample: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An authenticated `/ws` connection (Bearer at the upgrade), not yet in any room.
pub async fn open(base: &str, token: &str) -> Socket {
    let mut request = format!("{}/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    socket
}

/// A `/ws` connection that has joined `general`.
pub async fn connect(base: &str, token: &str) -> Socket {
    let mut socket = open(base, token).await;
    socket
        .send(Message::text(
            json!({"type": "join", "room": "general"}).to_string(),
        ))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("joined in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame
            && serde_json::from_str::<Value>(text.as_str()).unwrap()["type"] == "joined"
        {
            return socket;
        }
    }
}

/// A process's resident memory, in KiB, read from outside (`/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The next frame of `kind` on `socket`, skipping others.
pub async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    // One deadline for the whole wait: the server's pings must not extend it.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("a {kind} frame in time"))
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}

/// A connection that has joined `room`.
pub async fn join_room(base: &str, token: &str, room: &str) -> Socket {
    let mut socket = open(base, token).await;
    let join = json!({"type": "join", "room": room}).to_string();
    socket.send(Message::text(join)).await.unwrap();
    next_of(&mut socket, "joined").await;
    socket
}

/// A `sala serve` process.
pub struct Server {
    child: Child,
    pub base: String,
    pub port: u16,
}

impl Server {
    /// Starts `sala serve` on the data dir; `extra` adds flags (e.g. `--port N`; default 0).
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sala"));
        command.args(["serve", "--log-format", "json"]);
        if !extra.contains(&"--port") {
            command.args(["--port", "0"]);
        }
        // Limits out of the way unless the test sets them: every test client registers,
        // logs in and connects from 127.0.0.1.
        for flag in [
            "--send-rate",
            "--send-burst",
            "--registrations-per-hour",
            "--socketio-sessions-per-minute",
            "--max-connections-per-address",
        ] {
            if !extra.contains(&flag) {
                command.args([flag, "1000000"]);
            }
        }
        let mut child = command
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env("SALA_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sala starts");
        // The log line that says where it listens is the event awaited.
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("sala logs until it listens")
                .expect("log line");
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if entry["fields"]["message"] == "sala is listening" {
                break entry["fields"]["address"]
                    .as_str()
                    .expect("address")
                    .to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe; with
        // SALA_TEST_LOG=1 it goes to stderr too.
        let show = std::env::var_os("SALA_TEST_LOG").is_some();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if show {
                    eprintln!("{line}");
                }
            }
        });
        let port = address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            child,
            base: format!("http://{address}"),
            port,
        }
    }

    /// The server's process id, to read its memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the crash.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("reaped");
        assert!(exit.success(), "sala exits 0 on SIGTERM, got {exit}");
    }
}

impl Server {
    /// SIGTERM; the exit status, if the process ended within `limit`.
    pub fn stop_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(exit) = self.child.try_wait().expect("try_wait") {
                return Some(exit);
            }
            // Polling the child: there is no event to await for a process's exit here.
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sala chat` in line mode, its stdin a pipe, its stdout read line by line.
pub struct LineClient {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl LineClient {
    pub fn start(server: &str, user: &str, room: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sala"))
            .args([
                "chat",
                "--server",
                server,
                "--user",
                user,
                "--room",
                room,
                "--register",
            ])
            .env("SALA_PASSWORD", PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sala chat starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child: Some(child),
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn say(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{text}").expect("line written");
        stdin.flush().expect("flushed");
    }

    /// Waits for a printed line that ends with `suffix`; returns it.
    pub fn wait_for(&mut self, suffix: &str) -> String {
        if let Some(line) = self.seen.iter().find(|line| line.ends_with(suffix)) {
            return line.clone();
        }
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no line ending with {suffix:?}; saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.ends_with(suffix) {
                return line;
            }
        }
    }

    /// Closes stdin (EOF) and waits for the exit status; returns it with every line printed.
    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        drop(self.stdin.take());
        let (done, status) = mpsc::channel();
        let mut child = self.child.take().expect("running");
        std::thread::spawn(move || {
            let _ = done.send(child.wait());
        });
        let status = status
            .recv_timeout(WAIT)
            .expect("sala chat exits after EOF")
            .expect("status");
        // The reader thread ends with the process; take what it read.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for LineClient {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
