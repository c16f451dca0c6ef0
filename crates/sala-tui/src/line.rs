//! Line mode, for pipes and scripts: each stdin line is sent to the room, each message
//! that arrives is printed as `[HH:MM:SS] #room user: text` (an assistant's reply as
//! `user [assistant]:`), and at EOF the client waits until every line it sent is stored,
//! then exits.
//!
//! What the room held before is not printed: a script that only sends gets no dump of the
//! last 50 messages, and one that follows a room sees what arrives from then on (after a
//! reconnect, what it missed too). It starts sending once the room is joined: a room it
//! cannot join (unknown, not allowed) ends it at once, one line on stderr, status 1. A line
//! the server refuses (`invalid`, ...) is one line on stderr; a `rate_limited` one is sent
//! again, a few times, before it counts as refused. Any refused line makes the exit status
//! 1, every time: the client waits for each line's own answer, not for a count.
//! Connection trouble goes to stderr, one line each; the client keeps trying until the
//! session itself ends.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Local;
use sala_proto::api::Message;
use sala_proto::error::ErrorCode;
use sala_proto::frames::{ClientFrame, ServerFrame};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::ChatArgs;
use crate::account::{Accounts, password_from};
use crate::net::{self, Net, NetCommand, NetEvent};

/// Times a `rate_limited` line is sent again before it counts as refused; the waits
/// double from [`FIRST_RETRY`].
const RATE_LIMIT_RETRIES: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// Some lines were refused; each was already told on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{refused} of {sent} lines were not sent")]
pub struct LinesRefused {
    pub refused: u64,
    pub sent: u64,
}

/// One printed line per message.
pub fn format_message(message: &Message) -> String {
    let time = message.ts.with_timezone(&Local).format("%H:%M:%S");
    let text = if message.deleted {
        "(deleted)".to_owned()
    } else {
        message.text.replace('\n', "\n    ")
    };
    let mark = if message.assistant {
        " [assistant]"
    } else {
        ""
    };
    let edited = if message.edited_at.is_some() && !message.deleted {
        " (edited)"
    } else {
        ""
    };
    format!(
        "[{time}] #{} {}{mark}: {text}{edited}",
        message.room, message.user
    )
}

/// A line on its way: its frame, and how often it was refused as too fast.
struct Outstanding {
    frame: ClientFrame,
    text: String,
    rate_limited: u32,
}

/// # Errors
/// No `--user`, no password, bad credentials, an unreachable server, a room that cannot
/// be joined, a closed session; [`LinesRefused`] when lines were refused.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let Some(username) = args.user.as_deref() else {
        bail!("line mode needs --user NAME (and the password in SALA_PASSWORD or --password-file)");
    };
    let password = password_from(args.password_file.as_deref())?;
    let accounts = Accounts::new(&args.server);
    if args.register
        && let Err(err) = accounts.register(username, &password).await
        && !err.to_string().contains("taken")
    {
        return Err(err);
    }
    let session = accounts.login(username, &password).await?;
    let mut net = net::start(session.chat_url.clone(), session.token.clone());
    let room = args.room.to_ascii_lowercase();
    net.commands
        .send(NetCommand::Send(ClientFrame::Join {
            room: room.clone(),
            since: None,
        }))
        .await
        .context("the connection task stopped")?;
    wait_until_joined(&mut net, &room).await?;

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut lines = Lines::default();
    let mut at_eof = false;
    while !(at_eof && lines.outstanding.is_empty()) {
        tokio::select! {
            line = stdin.next_line(), if !at_eof => match line {
                Ok(Some(line)) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    lines.sent += 1;
                    let client_id = format!("{}-{}-{}", session.username, std::process::id(), lines.sent);
                    let frame = ClientFrame::Send {
                        reply_to: None,
                        room: room.clone(),
                        text: Some(line.clone()),
                        client_id: Some(client_id.clone()),
                        attachments: Vec::new(),
                    };
                    lines.outstanding.insert(client_id, Outstanding { frame: frame.clone(), text: line, rate_limited: 0 });
                    net.commands.send(NetCommand::Send(frame)).await.context("the connection task stopped")?;
                }
                Ok(None) | Err(_) => at_eof = true,
            },
            event = net.events.recv() => lines.handle(event, &net).await?,
        }
    }
    if lines.refused > 0 {
        return Err(LinesRefused {
            refused: lines.refused,
            sent: lines.sent,
        }
        .into());
    }
    Ok(())
}

/// Waits for the room's `joined` (its history is what the room held before: not printed).
async fn wait_until_joined(net: &mut Net, room: &str) -> anyhow::Result<()> {
    loop {
        match net.events.recv().await {
            None => bail!("the connection task stopped"),
            Some(NetEvent::Frame(frame)) => match *frame {
                ServerFrame::Joined { room: joined, .. } if joined == room => return Ok(()),
                ServerFrame::Error { message, .. } => bail!("cannot join #{room}: {message}"),
                _ => {}
            },
            Some(event) => {
                if let NetEvent::Ended(reason) = event {
                    bail!("{reason}");
                }
            }
        }
    }
}

/// The lines sent and their answers.
#[derive(Default)]
struct Lines {
    sent: u64,
    refused: u64,
    /// By client_id: the lines not yet answered.
    outstanding: HashMap<String, Outstanding>,
}

impl Lines {
    async fn handle(&mut self, event: Option<NetEvent>, net: &Net) -> anyhow::Result<()> {
        match event {
            None => bail!("the connection task stopped"),
            Some(NetEvent::Connected) => {}
            Some(NetEvent::Reconnecting { reason, retry_in }) => {
                eprintln!(
                    "connection lost ({reason}); reconnecting in {:.1} s",
                    retry_in.as_secs_f64()
                );
            }
            Some(NetEvent::Ended(reason)) => bail!("{reason}"),
            Some(NetEvent::Frame(frame)) => self.on_frame(*frame, net).await?,
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: ServerFrame, net: &Net) -> anyhow::Result<()> {
        match frame {
            // After a reconnect: what was missed meanwhile (the first one was not printed).
            ServerFrame::Joined { history, .. } => {
                for message in &history {
                    println!("{}", format_message(message));
                }
            }
            ServerFrame::Message(message) => println!("{}", format_message(&message)),
            ServerFrame::Ack {
                client_id: Some(id),
                ..
            } => {
                self.outstanding.remove(&id);
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(id),
                ..
            } if self.outstanding.contains_key(&id) => {
                let retry = code == ErrorCode::RateLimited
                    && self
                        .outstanding
                        .get(&id)
                        .is_some_and(|line| line.rate_limited < RATE_LIMIT_RETRIES);
                if retry && let Some(line) = self.outstanding.get_mut(&id) {
                    tokio::time::sleep(FIRST_RETRY * 2_u32.pow(line.rate_limited)).await;
                    line.rate_limited += 1;
                    net.commands
                        .send(NetCommand::Send(line.frame.clone()))
                        .await
                        .context("the connection task stopped")?;
                } else if let Some(line) = self.outstanding.remove(&id) {
                    self.refused += 1;
                    eprintln!("not sent ({code}: {message}): {}", line.text);
                }
            }
            ServerFrame::Error { code, message, .. } => eprintln!("error ({code}): {message}"),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(assistant: bool) -> Message {
        Message {
            id: 1,
            room: "general".into(),
            user: "alice".into(),
            text: "in a meeting".into(),
            ts: chrono::Utc::now(),
            assistant,
            ..Message::default()
        }
    }

    #[test]
    fn an_assistant_reply_is_marked() {
        assert!(
            format_message(&message(true)).ends_with("] #general alice [assistant]: in a meeting")
        );
        assert!(format_message(&message(false)).ends_with("] #general alice: in a meeting"));
    }
}
