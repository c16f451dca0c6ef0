//! The connection to `/ws`, owned by one task that heals it.
//!
//! The task remembers what a reconnect needs: the rooms joined and the last message id
//! seen in each, and the messages sent but not yet acked. After every `ready` it rejoins
//! each room with `since` and resends each unacked message under its `client_id` (the server
//! stores it once), and it drops any message it has already passed on. So the front ends see
//! every message once, in order, across reconnects, and need no logic of their own for it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use sala_proto::frames::{ClientFrame, ServerFrame};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

const BACKOFF: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// What the front end hears.
#[derive(Debug)]
pub enum NetEvent {
    /// Connected (again) and authenticated.
    Connected,
    /// A frame from the server, already deduplicated.
    Frame(Box<ServerFrame>),
    /// The connection dropped; the task is trying again.
    Reconnecting { reason: String, retry_in: Duration },
    /// The session is over (logged out, token expired, refused): no point retrying.
    Ended(String),
}

/// What the front end asks.
#[derive(Debug)]
pub enum NetCommand {
    Send(ClientFrame),
    /// Answered once no sent message is waiting for its ack.
    Flush(oneshot::Sender<()>),
}

/// The front end's handle.
pub struct Net {
    pub commands: mpsc::Sender<NetCommand>,
    pub events: mpsc::Receiver<NetEvent>,
}

/// Starts the connection task.
pub fn start(chat_url: String, token: String) -> Net {
    let (commands, command_rx) = mpsc::channel(256);
    let (event_tx, events) = mpsc::channel(1024);
    tokio::spawn(run(chat_url, token, command_rx, event_tx));
    Net { commands, events }
}

/// What survives a reconnect.
#[derive(Default)]
struct Resume {
    /// Joined rooms and the last message id passed on for each.
    rooms: BTreeMap<String, Option<i64>>,
    /// Sent, not yet acked, in the order they were typed: resent in that order after a
    /// reconnect.
    unacked: Vec<(String, ClientFrame)>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Resume {
    fn note_outgoing(&mut self, frame: &ClientFrame) {
        match frame {
            ClientFrame::Join { room, .. } => {
                self.rooms.entry(room.to_ascii_lowercase()).or_insert(None);
            }
            ClientFrame::Leave { room } => {
                self.rooms.remove(&room.to_ascii_lowercase());
            }
            ClientFrame::Send {
                client_id: Some(id),
                ..
            } if !self.unacked.iter().any(|(sent, _)| sent == id) => {
                self.unacked.push((id.clone(), frame.clone()));
            }
            _ => {}
        }
    }

    /// Updates the resume state; `false` for a message already passed on.
    fn note_incoming(&mut self, frame: &mut ServerFrame) -> bool {
        match frame {
            // The position kept is the highest seen of a message's id or a change's seq.
            ServerFrame::Message(message) => match self.rooms.get_mut(&message.room) {
                Some(Some(last)) if message.id <= *last => return false,
                Some(last) => *last = Some(message.id.max(message.seq)),
                None => {}
            },
            ServerFrame::MessageUpdated { room, message, .. } => match self.rooms.get_mut(room) {
                Some(Some(last)) if message.seq <= *last => return false,
                Some(last) => *last = Some(message.seq),
                None => {}
            },
            ServerFrame::Joined {
                room,
                history,
                updated,
                through,
                ..
            } => {
                let last = self.rooms.entry(room.clone()).or_insert(None);
                if let Some(seen) = *last {
                    history.retain(|message| message.id > seen);
                    updated.retain(|message| message.seq > seen);
                }
                let newest = history
                    .iter()
                    .chain(updated.iter())
                    .map(|message| message.id.max(message.seq))
                    .chain(*through)
                    .max();
                if newest.is_some() {
                    *last = newest.max(*last);
                }
            }
            ServerFrame::Left { room } => {
                self.rooms.remove(room);
            }
            ServerFrame::Ack {
                client_id: Some(id),
                ..
            } => {
                self.unacked.retain(|(sent, _)| sent != id);
            }
            // A refused send is not retried: the front end shows the error.
            ServerFrame::Error {
                client_id: Some(id),
                ..
            } => {
                self.unacked.retain(|(sent, _)| sent != id);
            }
            _ => {}
        }
        if self.unacked.is_empty() {
            for flush in self.flushes.drain(..) {
                let _ = flush.send(());
            }
        }
        true
    }

    /// The frames that bring a fresh connection back to where the last one was.
    fn replay(&self) -> Vec<ClientFrame> {
        let joins = self.rooms.iter().map(|(room, last)| ClientFrame::Join {
            room: room.clone(),
            since: *last,
        });
        joins
            .chain(self.unacked.iter().map(|(_, frame)| frame.clone()))
            .collect()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How one connection ended.
enum Ending {
    /// The front end went away.
    Quit,
    /// Worth trying again.
    Retry(String),
    /// Not worth trying again.
    Fatal(String),
}

async fn run(
    chat_url: String,
    token: String,
    mut commands: mpsc::Receiver<NetCommand>,
    events: mpsc::Sender<NetEvent>,
) {
    let mut resume = Resume::default();
    let mut attempt = 0usize;
    loop {
        let ending = match connect(&chat_url, &token).await {
            Ok(socket) => {
                let ending =
                    session(socket, &mut resume, &mut commands, &events, &mut attempt).await;
                if let Ending::Retry(_) = ending {
                    attempt = attempt.max(1);
                }
                ending
            }
            Err(ending) => ending,
        };
        let reason = match ending {
            Ending::Quit => return,
            Ending::Fatal(reason) => {
                let _ = events.send(NetEvent::Ended(reason)).await;
                return;
            }
            Ending::Retry(reason) => reason,
        };
        let retry_in = BACKOFF[attempt.min(BACKOFF.len() - 1)];
        attempt += 1;
        if events
            .send(NetEvent::Reconnecting { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        // Keep taking commands while waiting, so sends made offline are resent later.
        let wait = tokio::time::sleep(retry_in);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                command = commands.recv() => match command {
                    None => return,
                    Some(NetCommand::Send(frame)) => resume.note_outgoing(&frame),
                    Some(NetCommand::Flush(done)) => resume.flushes.push(done),
                },
            }
        }
    }
}

async fn connect(chat_url: &str, token: &str) -> Result<Socket, Ending> {
    let mut request = chat_url
        .into_client_request()
        .map_err(|err| Ending::Fatal(format!("bad chat URL {chat_url}: {err}")))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| Ending::Fatal("the token is not a valid header".into()))?;
    request.headers_mut().insert("authorization", bearer);
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Err(_) => Err(Ending::Retry("the server did not answer".into())),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) if response.status() == 401 => Err(
            Ending::Fatal("the session is no longer valid; log in again".into()),
        ),
        Ok(Err(tungstenite::Error::Io(_))) => {
            Err(Ending::Retry("the server is unreachable".into()))
        }
        Ok(Err(err)) => Err(Ending::Retry(err.to_string())),
    }
}

/// One connection, until it ends.
async fn session(
    mut socket: Socket,
    resume: &mut Resume,
    commands: &mut mpsc::Receiver<NetCommand>,
    events: &mpsc::Sender<NetEvent>,
    attempt: &mut usize,
) -> Ending {
    loop {
        tokio::select! {
            command = commands.recv() => {
                let frame = match command {
                    None => {
                        let _ = socket.close(None).await;
                        return Ending::Quit;
                    }
                    Some(NetCommand::Flush(done)) => {
                        resume.flushes.push(done);
                        if resume.unacked.is_empty() {
                            for flush in resume.flushes.drain(..) {
                                let _ = flush.send(());
                            }
                        }
                        continue;
                    }
                    Some(NetCommand::Send(frame)) => frame,
                };
                resume.note_outgoing(&frame);
                if let Err(err) = send(&mut socket, &frame).await {
                    return Ending::Retry(err.to_string());
                }
            }
            incoming = socket.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => return closed(frame.map(|f| (f.code, f.reason.to_string()))),
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => return Ending::Retry(err.to_string()),
                    None => return Ending::Retry("the connection was closed".into()),
                };
                let Ok(mut frame) = serde_json::from_str::<ServerFrame>(text.as_str()) else {
                    continue;
                };
                if let ServerFrame::Ready { .. } = frame {
                    *attempt = 0;
                    for replayed in resume.replay() {
                        if let Err(err) = send(&mut socket, &replayed).await {
                            return Ending::Retry(err.to_string());
                        }
                    }
                    if events.send(NetEvent::Connected).await.is_err() {
                        return Ending::Quit;
                    }
                }
                if resume.note_incoming(&mut frame) && events.send(NetEvent::Frame(Box::new(frame))).await.is_err() {
                    return Ending::Quit;
                }
            }
        }
    }
}

async fn send(socket: &mut Socket, frame: &ClientFrame) -> Result<(), tungstenite::Error> {
    let json = serde_json::to_string(frame).unwrap_or_default();
    socket.send(Message::text(json)).await
}

fn closed(frame: Option<(CloseCode, String)>) -> Ending {
    match frame {
        Some((CloseCode::Policy, reason)) => {
            Ending::Fatal(format!("the server closed the session: {reason}"))
        }
        Some((CloseCode::Away, _)) => Ending::Retry("the server is restarting".into()),
        Some((code, reason)) if !reason.is_empty() => Ending::Retry(format!(
            "the server closed the connection ({}: {reason})",
            u16::from(code)
        )),
        _ => Ending::Retry("the server closed the connection".into()),
    }
}
