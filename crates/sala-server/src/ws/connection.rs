//! One WebSocket connection: authentication, then a reader loop and a writer task.
//!
//! The chat layer admits the authenticated connection ([`crate::chat::admission`]). The
//! reader feeds text frames to the chat client and watches for the things that end a
//! connection (close, silence, shutdown, a close from the chat layer such as the token's
//! expiry). The writer drains the connection's
//! bounded queue, a batch per flush, pings on a timer, and sends the close frame whose code
//! matches the reason the connection was closed for.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use sala_proto::frames::ClientFrame;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use super::WsSettings;
use crate::auth::session::{AuthError, AuthUser};
use crate::chat::admission::{AdmissionError, Admitted};
use crate::chat::{ChatError, Client};
use crate::cluster::hub::{CloseReason, ConnHandle, Event, Outbound, Queued};
use crate::http::AppState;
use crate::metrics::{OpenConnection, Transport};

/// Frames written before one flush.
const WRITE_BATCH: usize = 64;
/// How long a closing connection may take to flush its queue and send its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// Serves one upgraded socket until it closes.
pub async fn run(socket: WebSocket, state: AppState, settings: WsSettings, auth: Option<AuthUser>) {
    let (mut sink, mut stream) = socket.split();
    let stop = state.chat.stop_reading().clone();
    let auth = match auth {
        Some(auth) => auth,
        None => {
            let outcome = tokio::select! {
                outcome = auth_frame(&state, settings, &mut stream) => outcome,
                () = stop.cancelled() => {
                    let _ = sink.send(close(1001, "server shutting down")).await;
                    return;
                }
            };
            match outcome {
                Ok(auth) => auth,
                Err(err) => {
                    let _ = sink.send(text(&err.to_event())).await;
                    let code = if matches!(err, ChatError::Unavailable) {
                        1011
                    } else {
                        1008
                    };
                    let _ = sink.send(close(code, "authentication required")).await;
                    return;
                }
            }
        }
    };
    let Admitted { client, outbound } = match state.chat.admit(&auth).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            let (code, why) = match refused {
                AdmissionError::NoSuchUser => (1008, "no such user"),
                AdmissionError::TooManyConnections(_) => (1008, "too many connections"),
                AdmissionError::LoggedOut => (1008, "logged out"),
                AdmissionError::Unavailable => (1011, "storage unavailable"),
            };
            if !matches!(
                refused,
                AdmissionError::NoSuchUser | AdmissionError::LoggedOut
            ) {
                let _ = sink.send(text(&refused.to_chat_error().to_event())).await;
            }
            let _ = sink.send(close(code, why)).await;
            return;
        }
    };
    let conn = client.conn().clone();
    tracing::debug!(
        conn = conn.id().0,
        user_id = auth.user_id,
        "websocket connected"
    );
    let _open = OpenConnection::new(&state.metrics, Transport::Ws);
    let writer = tokio::spawn(write(sink, outbound, conn.clone(), settings));
    let metrics = state.metrics.clone();
    read(stream, client, &state, settings).await;
    if let Err(err) = writer.await {
        tracing::error!(error = %err, "websocket writer task failed");
    }
    if conn.close_reason() == Some(CloseReason::SlowConsumer) {
        metrics.slow_consumers_closed.increment(1);
    }
    tracing::debug!(conn = conn.id().0, reason = ?conn.close_reason(), "websocket closed");
}

/// Waits for the first data frame, which must be a valid `auth`. Pings and pongs before it
/// are fine.
async fn auth_frame(
    state: &AppState,
    settings: WsSettings,
    stream: &mut Stream,
) -> Result<AuthUser, ChatError> {
    let refused = || {
        ChatError::BadRequest(
            "the first frame must be {\"type\":\"auth\",\"token\"} with a valid token".into(),
        )
    };
    let deadline = Instant::now() + settings.auth_timeout;
    let first = loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| ChatError::BadRequest("no auth frame in time".into()))?;
        match next {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Text(first))) => break first,
            _ => return Err(refused()),
        }
    };
    let Ok(ClientFrame::Auth { token }) = serde_json::from_str(first.as_str()) else {
        return Err(refused());
    };
    state.authenticate(&token).await.map_err(|err| match err {
        AuthError::Store(_) => {
            tracing::warn!(error = %err, "could not check an auth frame's token");
            ChatError::Unavailable
        }
        AuthError::Refused => refused(),
    })
}

/// Reads frames until the connection ends, for whatever reason (the token's expiry closes
/// it from the chat layer). Dropping the client at the end unregisters the connection.
async fn read(mut stream: Stream, mut client: Client, state: &AppState, settings: WsSettings) {
    let conn = client.conn().clone();
    let stop = state.chat.stop_reading().clone();
    loop {
        let next = tokio::select! {
            () = conn.closed() => break,
            () = stop.cancelled() => {
                // Shutdown: the hub closes us once the writer has committed what is queued;
                // staying registered until then lets the acks and messages reach us.
                conn.closed().await;
                break;
            }
            next = tokio::time::timeout(settings.idle_timeout, stream.next()) => next,
        };
        match next {
            Err(_silent) => conn.close(CloseReason::Idle),
            Ok(None | Some(Ok(Message::Close(_)))) => conn.close(CloseReason::Gone),
            Ok(Some(Err(err))) => conn.close(read_error_reason(err)),
            Ok(Some(Ok(Message::Binary(_)))) => conn.close(CloseReason::Unsupported),
            Ok(Some(Ok(Message::Text(text)))) => {
                client.handle_text(text.as_str()).await;
                continue;
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
        }
        break;
    }
}

fn read_error_reason(err: axum::Error) -> CloseReason {
    match err.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => CloseReason::TooBig,
        // A text frame that is not UTF-8: the client is told why (1007).
        Some(tungstenite::Error::Utf8(_)) => CloseReason::InvalidText,
        _ => CloseReason::Gone,
    }
}

/// Drains the connection's queue into the socket until the connection is closed. A write
/// that makes no progress for the write timeout (the client stopped reading, and the
/// socket's buffers are full) closes the connection as too slow: what it holds is bounded
/// in bytes, and now in time too.
async fn write(mut sink: Sink, mut outbound: Outbound, conn: ConnHandle, settings: WsSettings) {
    let mut heartbeat = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    loop {
        let writing = tokio::select! {
            biased;
            () = conn.closed() => break,
            event = outbound.recv() => {
                let Some(event) = event else { break };
                let batch = write_batch(&mut sink, &mut outbound, event);
                tokio::select! {
                    writing = tokio::time::timeout(settings.write_timeout, batch) => writing,
                    () = conn.closed() => break,
                }
            }
            _ = heartbeat.tick() => {
                let ping = sink.send(Message::Ping(Bytes::new()));
                tokio::select! {
                    writing = tokio::time::timeout(settings.write_timeout, ping) => writing,
                    () = conn.closed() => break,
                }
            }
        };
        let written = match writing {
            Ok(written) => written,
            Err(_stalled) => {
                tracing::info!(
                    conn = conn.id().0,
                    "websocket write stalled; closing slow client"
                );
                conn.close(CloseReason::SlowConsumer);
                break;
            }
        };
        if let Err(err) = written {
            tracing::debug!(conn = conn.id().0, error = %err, "websocket write failed");
            conn.close(CloseReason::Gone);
            break;
        }
    }
    finish(
        sink,
        outbound,
        conn.close_reason().unwrap_or(CloseReason::Gone),
    )
    .await;
}

/// Writes `first` and whatever else is queued, up to a batch, then flushes. Each event's
/// bytes are released as soon as the socket has taken it.
async fn write_batch(
    sink: &mut Sink,
    outbound: &mut Outbound,
    first: Queued,
) -> Result<(), axum::Error> {
    sink.feed(text(&first)).await?;
    drop(first);
    for _ in 1..WRITE_BATCH {
        match outbound.try_recv() {
            Ok(event) => sink.feed(text(&event)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}

/// Sends what the reason calls for, then the close frame, within a grace period.
async fn finish(mut sink: Sink, mut outbound: Outbound, reason: CloseReason) {
    let (code, why) = match reason {
        CloseReason::Gone => return,
        CloseReason::GoingAway => (1001, "server shutting down"),
        CloseReason::SlowConsumer => (1013, "too slow to keep up"),
        CloseReason::LoggedOut => (1008, "logged out"),
        CloseReason::TokenExpired => (1008, "token expired"),
        CloseReason::Idle => (1000, "idle timeout"),
        CloseReason::TooBig => (1009, "frame too big"),
        CloseReason::Unsupported => (1003, "binary frames are not supported"),
        CloseReason::InvalidText => (1007, "text frames must be UTF-8"),
    };
    let closing = async {
        if reason == CloseReason::GoingAway {
            // Acks and messages committed during shutdown still go out.
            while let Ok(event) = outbound.try_recv() {
                sink.feed(text(&event)).await?;
            }
        }
        sink.send(close(code, why)).await
    };
    if let Ok(Err(err)) = tokio::time::timeout(CLOSE_GRACE, closing).await {
        tracing::debug!(error = %err, "sending the close frame failed");
    }
}

fn text(event: &Event) -> Message {
    // Validated as UTF-8 once per event, not once per receiver.
    Message::Text(
        event.prepared(|json| {
            Utf8Bytes::try_from(json.clone()).expect("BUG: serde_json writes UTF-8")
        }),
    )
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}
