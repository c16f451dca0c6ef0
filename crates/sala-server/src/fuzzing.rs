//! Entry points for the fuzz targets in `fuzz/` (issue #10, "Hostile input"), and the test
//! that replays their seeds and saved crashes under plain `cargo test`.
//!
//! Each entry runs the server's own code on hostile bytes: tungstenite in the server role
//! with the limits `/ws` configures, the `ClientFrame` decoding `Client::handle_text` does,
//! the `ApiJson` extractor the HTTP handlers take, the Socket.io payload readers of
//! [`crate::sio::events`], the [`crate::domain`] parsers, token verification, and the
//! rendering of every error into the `error` frame or JSON body a client would get. What
//! is not reached is everything behind the store. A `/ws` or Socket.io frame goes through
//! [`Command::parse`], the session's own parser, so the rules fuzzed are the rules served;
//! the HTTP bodies go through the [`crate::domain`] parsers their handlers call. The fuzz
//! targets look for panics and overflows; an `Err` is a correct answer to bad input.
//!
//! Not part of the server's interface: `#[doc(hidden)]`, and used by `fuzz/` only.

use std::future::Future;
use std::hint::black_box;
use std::io::{Read, Write};
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::{FromRequest as _, Request};
use axum::http::header;
use axum::response::IntoResponse as _;
use sala_proto::api::{
    CreateRoomRequest, LoginRequest, RegisterRequest, StatusRequest, ValidateTokenRequest,
};
use sala_proto::frames::ClientFrame;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::auth::token::TokenKeys;
use crate::chat::ChatError;
use crate::chat::command::Command;
use crate::domain::{Availability, Email, Password, RoomName, RoomTopic, Username};
use crate::error::ApiError;
use crate::http::extract::ApiJson;
use crate::sio::events;
use crate::ws::{MAX_FRAME_BYTES, READ_BUFFER_BYTES};

/// The signing secret of the fuzz targets' tokens. The `auth` and `validate_token` seeds
/// carry tokens signed with it (valid until 2100), so mutations reach the claims.
pub const TOKEN_SECRET: &str = "sala-fuzzing-secret-0123456789abcdef";

fn tokens() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        TokenKeys::new(
            &SecretString::from(TOKEN_SECRET),
            chrono::Duration::hours(1),
        )
    })
}

// --- /ws --------------------------------------------------------------------------------

/// A client's side of the socket: reads come from the fuzz input, writes (pongs, the close
/// reply) go nowhere.
struct ClientBytes<'a>(&'a [u8]);

impl Read for ClientBytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for ClientBytes<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Target `ws_frames`: `data` is what a client sends after the upgrade. tungstenite (the
/// version axum uses) reads it in the server role with `/ws`'s limits, until an error, the
/// end, or a binary message (which closes a `/ws` connection); every text message goes
/// through [`decode_ws_text`]. Returns each text message's outcome.
pub fn ws_frames(data: &[u8]) -> Vec<Result<(), String>> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let mut socket = WebSocket::from_raw_socket(ClientBytes(data), Role::Server, Some(config));
    let mut outcomes = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => outcomes.push(decode_ws_text(text.as_str())),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Binary(_) | Message::Close(_)) => break,
            Err(err) => {
                // `/ws` tells a too-big frame (1009) from the rest by this variant.
                black_box(matches!(err, tungstenite::Error::Capacity(_)));
                break;
            }
        }
    }
    outcomes
}

/// One `/ws` text frame, as `Client::handle_text` decodes it, through the checks the
/// session makes before it touches the store. An `auth` frame's token is verified as the
/// first frame's would be. `Err` holds the `error` frame the client would get.
///
/// # Errors
/// The `error` frame, as JSON, for a frame the server refuses.
pub fn decode_ws_text(text: &str) -> Result<(), String> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => answer(frame),
        Err(err) => Err(render(&ChatError::BadRequest(format!(
            "malformed frame: {err}"
        )))),
    }
}

/// The session's answer to a decoded frame: `Err` with the error frame it would send. A
/// first `auth` frame's token is checked as the transport checks it; every other frame goes
/// through [`Command::parse`], the session's own parser.
fn answer(frame: ClientFrame) -> Result<(), String> {
    if let ClientFrame::Auth { token } = &frame {
        // What `ws::connection::auth_frame` and `auth::session::authenticate` do before
        // they ask the store about the session.
        let claims = tokens().verify(token).map_err(|_| render(&refused()))?;
        claims.sub.parse::<i64>().map_err(|_| render(&refused()))?;
        return Ok(());
    }
    Command::parse(frame)
        .map(drop)
        .map_err(|refusal| String::from_utf8_lossy(refusal.to_event().json()).into_owned())
}

fn render(err: &ChatError) -> String {
    String::from_utf8_lossy(err.to_event().json()).into_owned()
}

fn refused() -> ChatError {
    ChatError::BadRequest("the first frame must be an auth frame with a valid token".into())
}

// --- HTTP JSON bodies -------------------------------------------------------------------

/// The JSON request bodies of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpBody {
    /// `POST /api/register`
    Register,
    /// `POST /api/login`
    Login,
    /// `POST /api/validate_token`
    ValidateToken,
    /// `PUT /api/me/status`
    Status,
    /// `POST /api/rooms`
    CreateRoom,
}

impl HttpBody {
    /// The body type a fuzz input's first byte picks: `r`, `l`, `v`, `s`, `c` by name (the
    /// seeds use these), any other byte by its value.
    pub fn from_byte(byte: u8) -> Self {
        const ALL: [HttpBody; 5] = [
            HttpBody::Register,
            HttpBody::Login,
            HttpBody::ValidateToken,
            HttpBody::Status,
            HttpBody::CreateRoom,
        ];
        match byte {
            b'r' => Self::Register,
            b'l' => Self::Login,
            b'v' => Self::ValidateToken,
            b's' => Self::Status,
            b'c' => Self::CreateRoom,
            other => ALL[usize::from(other) % ALL.len()],
        }
    }
}

/// Target `http_bodies`: the first byte picks the body type ([`HttpBody::from_byte`]), the
/// rest is the body.
///
/// # Errors
/// The JSON error body, for a body the server refuses.
pub fn http_bodies(data: &[u8]) -> Result<(), String> {
    let Some((&kind, body)) = data.split_first() else {
        return Ok(());
    };
    decode_http_body(HttpBody::from_byte(kind), body)
}

/// One request body through the `ApiJson` extractor the handler takes, then the parsers the
/// handler applies before it reaches the store. (The 16 KiB body limit is a router layer;
/// fuzz inputs stay below it.)
///
/// # Errors
/// The JSON error body the client would get.
pub fn decode_http_body(kind: HttpBody, body: &[u8]) -> Result<(), String> {
    let outcome = match kind {
        HttpBody::Register => extract::<RegisterRequest>(body).and_then(|request| {
            Username::parse(&request.username)?;
            if let Some(email) = request.email.as_deref().filter(|e| !e.trim().is_empty()) {
                Email::parse(email)?;
            }
            Password::parse(request.password)?;
            Ok(())
        }),
        HttpBody::Login => extract::<LoginRequest>(body).and_then(|request| {
            // The throttle key of `accounts::LoginName`.
            let name = request
                .username
                .or(request.email)
                .ok_or_else(|| ApiError::BadRequest("username or email is required".into()))?;
            black_box(sala_store::fold_key(name.trim()));
            Ok(())
        }),
        HttpBody::ValidateToken => extract::<ValidateTokenRequest>(body).and_then(|request| {
            let claims = tokens()
                .verify(&request.token)
                .map_err(|_| ApiError::Unauthorized)?;
            claims
                .sub
                .parse::<i64>()
                .map_err(|_| ApiError::Unauthorized)?;
            Ok(())
        }),
        HttpBody::Status => extract::<StatusRequest>(body).and_then(|request| {
            Availability::parse(&request.status, request.note.as_deref())?;
            Ok(())
        }),
        HttpBody::CreateRoom => extract::<CreateRoomRequest>(body).and_then(|request| {
            RoomName::parse(&request.name)?;
            RoomTopic::parse(request.topic.as_deref())?;
            Ok(())
        }),
    };
    outcome.map_err(|err| {
        let response = err.into_response();
        let bytes = ready(axum::body::to_bytes(response.into_body(), usize::MAX))
            .expect("BUG: an error body is in memory");
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `ApiJson::<T>::from_request` on a `Content-Type: application/json` request.
fn extract<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("BUG: a fixed request is well formed");
    ready(ApiJson::<T>::from_request(request, &())).map(|ApiJson(value)| value)
}

/// The output of a future that never waits (all its input is in memory).
///
/// # Panics
/// If it does wait: then this harness is wrong, not the server.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("BUG: fuzzing.rs expected an in-memory future to complete without waiting");
}

// --- Socket.io --------------------------------------------------------------------------

/// Target `sio_events`: `EVENT\nJSON`. The event name is the first line, the payload (the
/// event's first argument) the rest; an input without a newline, or whose payload is not
/// JSON, is skipped (socketioxide would not deliver it).
///
/// # Errors
/// What the server would emit as `error`.
pub fn sio_events(data: &[u8]) -> Result<(), String> {
    let Some(newline) = data.iter().position(|&b| b == b'\n') else {
        return Ok(());
    };
    let (Ok(name), Ok(payload)) = (
        std::str::from_utf8(&data[..newline]),
        serde_json::from_slice::<Value>(&data[newline + 1..]),
    ) else {
        return Ok(());
    };
    decode_sio_event(name, payload)
}

/// One Socket.io event through the payload reader its handler uses
/// ([`crate::sio::events`]), then the session's checks on the frame it becomes.
///
/// # Errors
/// What the server would emit as `error` (for a payload of the wrong shape or an unknown
/// event, only the code and a summary).
pub fn decode_sio_event(name: &str, data: Value) -> Result<(), String> {
    match events::decode(name, Some(&data)) {
        None => Err(format!("bad_request: unknown event '{name}'")),
        Some(None) => Err(format!(
            "bad_request: '{name}' got a payload of the wrong shape"
        )),
        Some(Some(frame)) => answer(frame),
    }
}

#[cfg(test)]
mod tests {
    //! Replays `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` through the entry
    //! points, so `cargo test` keeps every crash ever found fixed, without cargo-fuzz.

    use std::path::PathBuf;

    use super::*;

    /// The files of `fuzz/<kind>/<target>/`, by name (hidden files left out).
    fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz")
            .join(kind)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|path| {
                path.is_file()
                    && !path
                        .file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).expect("readable fuzz input");
                (path, bytes)
            })
            .collect()
    }

    /// Every seed must be accepted (they are valid input from docs/protocol.md, so a seed
    /// that fails has gone stale); every regression must merely not panic.
    fn replay<T>(target: &str, run: fn(&[u8]) -> T, accepted: fn(&T) -> bool) {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seeds");
        for (path, bytes) in seeds {
            let outcome = run(&bytes);
            assert!(accepted(&outcome), "seed {} was refused", path.display());
        }
        for (_path, bytes) in inputs("regressions", target) {
            black_box(run(&bytes));
        }
    }

    #[test]
    fn ws_frames_seeds_and_regressions_replay() {
        replay("ws_frames", ws_frames, |outcomes| {
            !outcomes.is_empty() && outcomes.iter().all(Result::is_ok)
        });
    }

    #[test]
    fn http_bodies_seeds_and_regressions_replay() {
        replay("http_bodies", http_bodies, Result::is_ok);
    }

    #[test]
    fn sio_events_seeds_and_regressions_replay() {
        replay("sio_events", sio_events, Result::is_ok);
    }

    /// A masked client frame (RFC 6455 §5.2), with the mask left at zero.
    fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![if fin { 0x80 | opcode } else { opcode }];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 1 << 16 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn ws_frames_reads_as_the_server_does() {
        let ping = br#"{"type":"ping"}"#;
        // Fragments with a control frame between them are one message.
        let mut stream = client_frame(0x1, false, &ping[..5]);
        stream.extend(client_frame(0x9, true, b"hi"));
        stream.extend(client_frame(0x0, true, &ping[5..]));
        assert_eq!(ws_frames(&stream), vec![Ok(())]);
        // 64 KiB is the most a message may hold; one byte more ends the connection.
        let mut largest = br#"{"type":"ping","pad":""#.to_vec();
        largest.resize(MAX_FRAME_BYTES - 2, b'x');
        largest.extend_from_slice(br#""}"#);
        assert_eq!(ws_frames(&client_frame(0x1, true, &largest)), vec![Ok(())]);
        largest.insert(0, b' ');
        assert!(ws_frames(&client_frame(0x1, true, &largest)).is_empty());
        // A binary message ends it too (close 1003), and so do unmasked client frames.
        let mut stream = client_frame(0x2, true, b"\x01");
        stream.extend(client_frame(0x1, true, ping));
        assert!(ws_frames(&stream).is_empty());
        let mut unmasked = client_frame(0x1, true, ping);
        unmasked[1] &= 0x7f;
        unmasked.drain(2..6);
        assert!(ws_frames(&unmasked).is_empty());
    }

    #[test]
    fn refusals_carry_the_error_a_client_gets() {
        let frame =
            decode_ws_text(r#"{"type":"send","room":"General","text":"  ","client_id":"c"}"#);
        let frame: Value = serde_json::from_str(&frame.unwrap_err()).unwrap();
        let expected = serde_json::json!({
            "type": "error",
            "code": "invalid",
            "message": "text must be 1 to 4000 characters",
            "room": "general",
            "client_id": "c",
        });
        assert_eq!(frame, expected);
        let body = decode_http_body(HttpBody::CreateRoom, br#"{"name":"a b"}"#).unwrap_err();
        assert!(body.contains(r#""code":"invalid""#), "{body}");
        let body = decode_http_body(HttpBody::Login, b"{").unwrap_err();
        assert!(body.contains(r#""code":"bad_request""#), "{body}");
        let sio = decode_sio_event("chat-message", serde_json::json!({"room": "general"}));
        assert!(sio.is_err());
    }

    /// The checks the session makes on a `send`'s `client_id` and a `history`'s `limit`
    /// run here too (they are the same `domain` parsers).
    #[test]
    fn client_ids_and_history_limits_are_checked_as_the_session_does() {
        let long_key = format!(
            r#"{{"type":"send","room":"general","text":"hi","client_id":"{}"}}"#,
            "k".repeat(129)
        );
        for refused in [
            long_key.as_str(),
            r#"{"type":"send","room":"general","text":"hi","client_id":""}"#,
            r#"{"type":"history","room":"general","limit":0}"#,
            r#"{"type":"history","room":"general","limit":201}"#,
        ] {
            let frame: Value = serde_json::from_str(&decode_ws_text(refused).unwrap_err()).unwrap();
            assert_eq!(frame["code"], "invalid", "{refused}: {frame}");
        }
        let accepted = format!(
            r#"{{"type":"send","room":"general","text":"hi","client_id":"{}"}}"#,
            "k".repeat(128)
        );
        assert_eq!(decode_ws_text(&accepted), Ok(()));
        assert_eq!(
            decode_ws_text(r#"{"type":"history","room":"general","limit":200}"#),
            Ok(())
        );
    }
}
