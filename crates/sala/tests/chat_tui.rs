//! The full-screen `sala chat` in a real terminal: tmux runs it, `send-keys` types and
//! `capture-pane` reads the screen (SPEC §6). `scripts/test.sh` installs tmux; plain
//! `cargo test` skips this.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, Socket, WAIT, connect, token};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A tmux server of our own (its own socket), so nothing else is touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(command: &str) -> Self {
        let tmux = Self {
            socket: format!("sala-test-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            "110",
            "-y",
            "34",
            command,
        ]);
        tmux.run(&["set-option", "-t", "chat", "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (scripts/test.sh installs it)");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types literally, then presses Enter.
    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "chat", "-l", text]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "chat"])
    }

    /// Polls the screen (a terminal has no events to await) until it shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `Some(how)` once the program has ended: its exit status, or `signal N`.
    fn pane_dead(&self) -> Option<String> {
        let state = self.run(&[
            "display-message",
            "-p",
            "-t",
            "chat",
            "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}",
        ]);
        let mut fields = state.trim().split('|');
        let (dead, status, signal) = (
            fields.next()?,
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        // tmux 3.3 sometimes records neither an exit status nor a signal for a pane that
        // ended normally; "" stands for that.
        match (dead, status, signal) {
            ("1", "", "") => Some(String::new()),
            ("1", "", signal) => Some(format!("signal {signal}")),
            ("1", status, _) => Some(status.to_owned()),
            _ => None,
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn register_chat_and_quit_in_a_real_terminal() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let command = format!(
        "env TERM=xterm-256color {} chat --server {}",
        env!("CARGO_BIN_EXE_sala"),
        server.base
    );
    let tmux = Tmux::new(&command);

    // The menu: 2 registers, then it logs in by itself.
    tmux.wait_for("1) login");
    tmux.keys(&["2"]);
    tmux.wait_for("username:");
    tmux.type_line("tina");
    tmux.wait_for("password:");
    tmux.type_line(PASSWORD);
    let screen = tmux.wait_for(" Rooms ");
    assert!(
        !screen.contains(PASSWORD),
        "the password is never echoed:\n{screen}"
    );
    tmux.wait_for("#general");

    // Someone else in general, over a plain WebSocket.
    let uwe_token = token(&reqwest::Client::new(), &server.base, "uwe", true).await;
    let mut uwe = connect(&server.base, &uwe_token).await;

    tmux.type_line("/join general");
    tmux.type_line("hello from the terminal");
    let heard = next_message(&mut uwe).await;
    assert_eq!(
        (heard["user"].as_str(), heard["text"].as_str()),
        (Some("tina"), Some("hello from the terminal"))
    );

    uwe.send(Message::text(
        json!({"type": "send", "room": "general", "text": "hi tina, welcome"}).to_string(),
    ))
    .await
    .unwrap();
    tmux.wait_for("uwe: hi tina, welcome");
    tmux.type_line("/who");
    tmux.wait_for("online: tina, uwe");

    // /quit leaves the alternate screen: the chat's frame is gone, the shell's screen is back.
    tmux.type_line("/quit");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = tmux.pane_dead() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sala chat did not exit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status == "0" || status.is_empty(),
        "sala chat ended with {status}"
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains(" Rooms "),
        "the terminal was restored:\n{screen}"
    );
    assert!(
        screen.contains("1) login"),
        "the screen from before the chat is back:\n{screen}"
    );
}

async fn next_message(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["type"] == "message" {
                return value;
            }
        }
    }
}
