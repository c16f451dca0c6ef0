//! Line mode, for pipes and scripts: each stdin line is sent to the room, each message
//! received is printed as `[HH:MM:SS] #room user: text`, and at EOF the client waits until
//! everything it sent is acked, then exits 0. Connection trouble goes to stderr, one line
//! each; the client keeps trying until the session itself ends.

use anyhow::{Context, bail};
use chrono::Local;
use sala_proto::api::Message;
use sala_proto::frames::{ClientFrame, ServerFrame};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::oneshot;

use crate::ChatArgs;
use crate::account::{Accounts, password_from};
use crate::net::{self, NetCommand, NetEvent};

/// One printed line per message.
pub fn format_message(message: &Message) -> String {
    let time = message.ts.with_timezone(&Local).format("%H:%M:%S");
    let text = message.text.replace('\n', "\n    ");
    format!("[{time}] #{} {}: {text}", message.room, message.user)
}

/// # Errors
/// No `--user`, no password, bad credentials, an unreachable server, a closed session.
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

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut sent: u64 = 0;
    // Until EOF: send each line, print what arrives.
    let mut acked = loop {
        tokio::select! {
            line = stdin.next_line() => match line {
                Ok(Some(line)) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    sent += 1;
                    let frame = ClientFrame::Send {
                        room: room.clone(),
                        text: line,
                        client_id: Some(format!("{}-{}-{sent}", session.username, std::process::id())),
                    };
                    net.commands.send(NetCommand::Send(frame)).await.context("the connection task stopped")?;
                }
                Ok(None) | Err(_) => {
                    let (done, acked) = oneshot::channel();
                    net.commands.send(NetCommand::Flush(done)).await.context("the connection task stopped")?;
                    break acked;
                }
            },
            event = net.events.recv() => handle(event)?,
        }
    };
    // After EOF: keep printing until every sent message is acked.
    loop {
        tokio::select! {
            _ = &mut acked => return Ok(()),
            event = net.events.recv() => handle(event)?,
        }
    }
}

fn handle(event: Option<NetEvent>) -> anyhow::Result<()> {
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
        Some(NetEvent::Frame(frame)) => print_frame(frame),
    }
    Ok(())
}

fn print_frame(frame: ServerFrame) {
    match frame {
        ServerFrame::Joined { history, .. } => {
            for message in &history {
                println!("{}", format_message(message));
            }
        }
        ServerFrame::Message(message) => println!("{}", format_message(&message)),
        ServerFrame::Error { code, message, .. } => eprintln!("error ({code}): {message}"),
        _ => {}
    }
}
