//! A WebSocket test client over real TCP (tokio-tungstenite), speaking SPEC §3.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// Every wait for a frame is bounded.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

pub struct WsClient {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended, seen from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(Option<u16>),
    /// The TCP connection ended without a close frame.
    Dropped,
}

pub fn ws_url(app: &TestApp) -> String {
    format!("{}/ws", app.base.replacen("http://", "ws://", 1))
}

impl WsClient {
    /// Connects with `Authorization: Bearer` and waits for `ready`.
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        let mut client = Self::connect_raw(app, Some(token))
            .await
            .expect("websocket upgrade");
        let ready = client.next_frame().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        client
    }

    /// Connects with or without a bearer header; does not wait for anything.
    pub async fn connect_raw(
        app: &TestApp,
        token: Option<&str>,
    ) -> Result<Self, tungstenite::Error> {
        let mut request = ws_url(app).into_client_request()?;
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (socket, _) =
            tokio::time::timeout(FRAME_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .expect("upgrade answered in time")?;
        Ok(Self { socket })
    }

    pub async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .expect("frame sent");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("frame sent");
    }

    /// The next text frame as JSON (pings and pongs of the transport are skipped).
    pub async fn next_frame(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
                .await
                .expect("a frame arrives in time")
                .expect("the connection is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("JSON frame");
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame of type `kind`, skipping presence and typing noise but nothing else.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == kind {
                return frame;
            }
            assert!(
                frame["type"] == "presence" || frame["type"] == "typing",
                "expected {kind}, got {frame}"
            );
        }
    }

    /// The next frame of type `kind`, skipping anything else.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Proves nothing else is queued for this client: a ping's pong must come next.
    pub async fn assert_nothing_pending(&mut self) {
        self.send(json!({"type": "ping"})).await;
        let frame = self.next_frame().await;
        assert_eq!(
            frame["type"], "pong",
            "unexpected frame before pong: {frame}"
        );
    }

    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        self.next_of("joined").await
    }

    /// Sends a message and returns its id, from the ack; the echo must follow the ack.
    pub async fn say(&mut self, room: &str, text: &str) -> i64 {
        self.send(json!({"type": "send", "room": room, "text": text}))
            .await;
        let ack = self.next_of("ack").await;
        let message = self.next_of("message").await;
        assert_eq!(
            ack["id"], message["id"],
            "ack then message with the same id"
        );
        assert_eq!(message["text"], text);
        ack["id"].as_i64().unwrap()
    }

    /// Reads until the connection ends; returns how.
    pub async fn ended(&mut self) -> Ended {
        loop {
            let next = tokio::time::timeout(FRAME_TIMEOUT, self.socket.next())
                .await
                .expect("the connection ends in time");
            match next {
                Some(Ok(Message::Close(frame))) => {
                    return Ended::Closed(frame.map(|CloseFrame { code, .. }| u16::from(code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ended::Dropped,
            }
        }
    }
}
