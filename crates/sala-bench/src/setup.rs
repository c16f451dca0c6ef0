//! Setting a run up: logging many users in at once, spreading connections over source
//! addresses, the open-file limit, and opening one connection that has joined a room.
//! What the connections then do belongs to the scenarios (and `member`).

use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt as _, StreamExt as _, stream};
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{self, Seen};
use crate::target::{Dial, Socket, Target};

/// Open files the load generator needs besides its connections: the runtime, standard
/// streams, the HTTP client's pooled connections for logins.
const FILES_RESERVED: u64 = 256;

/// Tokens for users `users` (by [`Target::username`]), `concurrency` logins in flight.
///
/// # Errors
/// When a login fails.
pub async fn login(
    target: &Target,
    users: Range<usize>,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let count = users.len();
    if count > 0 {
        eprintln!("logging in {count} users…");
    }
    stream::iter(users)
        .map(|i| {
            let target = target.clone();
            async move { target.token(&target.username(i)).await }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Creates `rooms` on Sala, `concurrency` at a time, room `i` as the user of
/// `tokens[i % tokens.len()]`: the work is spread over the users, since a server may limit
/// the rooms one user creates per hour (nothing to do on the peers).
///
/// # Errors
/// When the server refuses one.
///
/// # Panics
/// When `tokens` is empty.
pub async fn create_rooms(
    target: &Target,
    tokens: &[String],
    rooms: &[String],
    concurrency: usize,
) -> anyhow::Result<()> {
    assert!(!tokens.is_empty(), "BUG: rooms are created by some user");
    stream::iter(rooms.iter().enumerate())
        .map(|(i, room)| target.create_room(&tokens[i % tokens.len()], room))
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Opens one DM per `members` consecutive users (user `r * members` opens room `r` with the
/// others), `concurrency` at a time; returns their handles in room order.
///
/// # Errors
/// When the server refuses one.
pub async fn open_dms(
    target: &Target,
    tokens: &[String],
    members: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let rooms = tokens.len() / members;
    eprintln!("opening {rooms} DMs…");
    stream::iter(0..rooms)
        .map(|room| {
            let others: Vec<String> = (1..members)
                .map(|k| target.username(room * members + k))
                .collect();
            let token = tokens[room * members].clone();
            async move { target.open_dm(&token, &others).await }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Opens one connection per `(token, room)` of `plan`, `concurrency` at a time, and sends
/// each its `join` without waiting for an answer: the probes of `member` show when the joins
/// have taken effect.
///
/// # Errors
/// When a connection fails.
pub async fn open_and_join(
    target: &Target,
    plan: Vec<(String, String)>,
    concurrency: usize,
) -> anyhow::Result<Vec<Socket>> {
    eprintln!("opening {} connections…", plan.len());
    stream::iter(plan)
        .map(|(token, room)| {
            let target = target.clone();
            async move {
                let mut socket = target.connect(&token, Dial::default()).await?;
                socket
                    .send(Message::text(target.protocol().join(&room)))
                    .await?;
                anyhow::Ok(socket)
            }
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Raises this process's open-file soft limit to its hard limit and checks that
/// `connections` fit under it.
///
/// # Errors
/// When they do not, or the limit cannot be read.
pub fn raise_open_file_limit(connections: u64, what: &str) -> anyhow::Result<u64> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    let needed = connections + FILES_RESERVED;
    if needed > limit {
        bail!(
            "{what} needs about {needed} open files ({connections} connections + \
             {FILES_RESERVED}), but this process may open only {limit} (the hard limit, \
             `ulimit -Hn`): ask for fewer connections or raise the hard limit"
        );
    }
    Ok(limit)
}

/// The connections an open-file limit leaves room for.
pub fn connections_allowed(limit: u64) -> u64 {
    limit.saturating_sub(FILES_RESERVED)
}

/// Source addresses 127.0.0.1 … 127.0.0.K, taken in turn.
#[derive(Debug, Clone, Copy)]
pub struct Sources {
    count: u8,
}

impl Sources {
    /// Connections one source address is given at most when the count is automatic (it has
    /// about 28,000 ephemeral ports).
    pub const PER_SOURCE: usize = 20_000;

    /// `count` addresses, or 1 per [`Self::PER_SOURCE`] connections.
    ///
    /// # Errors
    /// When `count` is 0 or over 254, or the connections need more than 254 addresses.
    pub fn new(count: Option<u32>, connections: usize) -> anyhow::Result<Self> {
        let count = match count {
            Some(count) => count,
            None => {
                u32::try_from(connections.div_ceil(Self::PER_SOURCE).max(1)).unwrap_or(u32::MAX)
            }
        };
        if !(1..=254).contains(&count) {
            bail!("--sources must be between 1 and 254 (127.0.0.1 … 127.0.0.254), not {count}");
        }
        Ok(Self {
            count: u8::try_from(count).expect("BUG: checked to be at most 254"),
        })
    }

    pub fn count(self) -> u8 {
        self.count
    }

    /// How connection `index` dials: with one source the kernel chooses (127.0.0.1).
    pub fn dial(self, index: usize, small_buffers: bool) -> Dial {
        let source = (self.count > 1).then(|| {
            let k = u8::try_from(index % usize::from(self.count)).unwrap_or(0);
            Ipv4Addr::new(127, 0, 0, k + 1)
        });
        Dial {
            source,
            small_buffers,
        }
    }
}

/// A connection that has joined a room.
pub struct Joined {
    pub socket: Socket,
    /// From the start to the end of the WebSocket upgrade (Socket.io: its connect too).
    pub upgraded: Duration,
    /// From the start to the `joined` answer; for a server that answers nothing (the
    /// peers), to the moment the `join` was sent.
    pub joined: Duration,
    /// The `joined` frame (Sala).
    pub frame: Option<String>,
}

/// Connects as `token`, joins `room` (resuming after `since` if given) and, on Sala, waits
/// for `joined`: all within `limit`.
///
/// # Errors
/// When the connection fails or closes, the server answers the join with an error, or
/// `limit` passes.
pub async fn connect_and_join(
    target: &Target,
    token: &str,
    room: &str,
    since: Option<i64>,
    dial: Dial,
    limit: Duration,
) -> anyhow::Result<Joined> {
    let started = Instant::now();
    let joining = async {
        let mut socket = target.connect(token, dial).await?;
        let upgraded = started.elapsed();
        let protocol = target.protocol();
        if !target.answers_join() {
            socket.send(Message::text(protocol.join(room))).await?;
            return Ok(Joined {
                socket,
                upgraded,
                joined: started.elapsed(),
                frame: None,
            });
        }
        socket
            .send(Message::text(protocol.join_answered(room, since)))
            .await?;
        loop {
            let text = match socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(err.into()),
                None => bail!("the server closed the connection before `joined`"),
            };
            if let Some(answer) = protocol.answer(text.as_str()) {
                socket.send(Message::text(answer)).await?;
                continue;
            }
            match frames::classify(text.as_str(), protocol) {
                Seen::Joined => {
                    return Ok(Joined {
                        socket,
                        upgraded,
                        joined: started.elapsed(),
                        frame: Some(text.as_str().to_owned()),
                    });
                }
                Seen::Error { .. } => bail!("join refused: {}", text.as_str()),
                _ => {}
            }
        }
    };
    tokio::time::timeout(limit, joining)
        .await
        .with_context(|| format!("no `joined` within {} s", limit.as_secs()))?
}

/// Closes `socket` cleanly: a close frame, then waiting (at most `limit`) for the server's.
pub async fn close(mut socket: Socket, limit: Duration) {
    let closing = async {
        if socket.close(None).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = socket.next().await {}
    };
    let _ = tokio::time::timeout(limit, closing).await;
}
