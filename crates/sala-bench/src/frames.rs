//! What a received frame is, found by a cheap scan rather than a full JSON parse: the load
//! generator must stay faster than the server it measures. Only the rare frames whose
//! content matters (a `joined` with its history) are parsed in full, by their scenario.
//!
//! The texts the load generator sends, and what it reads back from them:
//! - a bench message's text is `b <publisher> <seq> <sent_ns>`: every receiver records its
//!   end-to-end latency, and a publisher recognises its own copy;
//! - a probe's text starts with `probe`: it shows a connection's join has taken effect;
//! - an acknowledged send carries the `client_id` `<publisher>-<seq>-<sent_ns>`, which the
//!   ack gives back, so the ack's latency is known without a table of sends.
//!
//! The scan reads both compact JSON (Sala, rust-bare, node) and Python's spaced JSON
//! (`"key": "value"`, fastapi-ws).

use crate::target::Protocol;

/// A received frame, as far as the scenarios care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A chat message with a bench text.
    Bench {
        publisher: usize,
        seq: u64,
        sent_ns: u64,
    },
    /// A chat message with a probe text.
    Probe,
    /// Sala stored a message: an `ack` frame (`/ws`) or a send's ack callback (Socket.io).
    /// `seq` and `sent_ns` are read from a bench `client_id`; `None` for sends without
    /// one.
    Ack {
        id: Option<i64>,
        seq: Option<u64>,
        sent_ns: Option<u64>,
    },
    /// A `message_updated` frame (an edit, a reaction or its removal reaching a member).
    Updated,
    /// Sala's answer to `join` (a `joined` frame, or the ack of a Socket.io `join`).
    Joined,
    /// An error frame or event; `send` when it answers a send that carried a `client_id`
    /// (on `/ws`), which will get no ack.
    Error { send: bool },
    /// Socket.io's ack callback for a refused send (the `error` event that comes with it is
    /// counted as the error).
    SendRefused,
    /// Anything else: presence, typing, ready, other chat messages…
    Other,
}

/// Classifies a text frame. Engine.IO pings are [`Protocol::answer`]'s business.
pub fn classify(frame: &str, protocol: Protocol) -> Seen {
    match protocol {
        Protocol::Ws => classify_ws(frame),
        Protocol::Socketio => classify_socketio(frame),
    }
}

fn classify_ws(frame: &str) -> Seen {
    match string_field(frame, "type") {
        Some("message") => message(frame),
        Some("ack") => ack(frame),
        Some("message_updated") => Seen::Updated,
        Some("joined") => Seen::Joined,
        Some("error") => Seen::Error {
            send: string_field(frame, "client_id").is_some(),
        },
        _ => Seen::Other,
    }
}

fn classify_socketio(frame: &str) -> Seen {
    if let Some(event) = frame.strip_prefix("42[\"") {
        let name = &event[..event.find('"').unwrap_or(event.len())];
        return match name {
            "chat-message" => message(frame),
            "joined" => Seen::Joined,
            "error" => Seen::Error { send: false },
            _ => Seen::Other,
        };
    }
    if let Some(answer) = frame.strip_prefix("43") {
        let payload = answer.trim_start_matches(|c: char| c.is_ascii_digit());
        let first = payload.trim_start_matches(['[', '{', ' ']);
        return if first.starts_with("\"error\"") {
            Seen::SendRefused
        } else if string_field(payload, "type") == Some("joined") {
            Seen::Joined
        } else {
            ack(payload)
        };
    }
    if frame.starts_with("44") {
        return Seen::Error { send: false };
    }
    Seen::Other
}

fn message(frame: &str) -> Seen {
    let Some(text) = string_field(frame, "text") else {
        return Seen::Other;
    };
    let mut words = text.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("b"), Some(publisher), Some(seq), Some(sent_ns)) => {
            match (publisher.parse(), seq.parse(), sent_ns.parse()) {
                (Ok(publisher), Ok(seq), Ok(sent_ns)) => Seen::Bench {
                    publisher,
                    seq,
                    sent_ns,
                },
                _ => Seen::Other,
            }
        }
        (Some(first), ..) if first.starts_with("probe") => Seen::Probe,
        _ => Seen::Other,
    }
}

fn ack(frame: &str) -> Seen {
    // `<publisher>-<seq>-<sent_ns>` (see the module doc); the publisher is the receiver.
    let mut numbers = string_field(frame, "client_id")
        .unwrap_or_default()
        .split('-')
        .skip(1)
        .map(|part| part.parse().ok());
    Seen::Ack {
        id: int_field(frame, "id"),
        seq: numbers.next().flatten(),
        sent_ns: numbers.next().flatten(),
    }
}

/// The `client_id` of an acknowledged bench send (see the module doc).
pub fn client_id(publisher: usize, seq: u64, sent_ns: u64) -> String {
    format!("{publisher}-{seq}-{sent_ns}")
}

/// The bench text of a message (see the module doc).
pub fn bench_text(publisher: usize, seq: u64, sent_ns: u64) -> String {
    format!("b {publisher} {seq} {sent_ns}")
}

/// Where the value of the first `"key":` starts, spaces skipped.
fn value_start<'a>(frame: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = frame;
    loop {
        let at = rest.find(key)?;
        let before = &rest[..at];
        let after = &rest[at + key.len()..];
        rest = after;
        if before.ends_with('"') && after.starts_with('"') {
            let value = after[1..].trim_start();
            if let Some(value) = value.strip_prefix(':') {
                return Some(value.trim_start());
            }
        }
    }
}

/// The first string value of `key` (up to the next quote: the values this tool reads carry
/// no escaped quotes); `None` when the key is missing or its value is not a string.
pub fn string_field<'a>(frame: &'a str, key: &str) -> Option<&'a str> {
    let value = value_start(frame, key)?.strip_prefix('"')?;
    Some(&value[..value.find('"')?])
}

/// The first integer value of `key`.
pub fn int_field(frame: &str, key: &str) -> Option<i64> {
    let value = value_start(frame, key)?;
    let end = value
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(value.len(), |(i, _)| i);
    value[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sala_ws_frames_are_told_apart() {
        let message = r#"{"type":"message","id":7,"room":"r","user":"u","text":"b 3 9 12345","ts":"x","assistant":false}"#;
        assert_eq!(
            classify(message, Protocol::Ws),
            Seen::Bench {
                publisher: 3,
                seq: 9,
                sent_ns: 12345
            }
        );
        let ack = r#"{"type":"ack","room":"r","id":42,"client_id":"3-9-12345"}"#;
        assert_eq!(
            classify(ack, Protocol::Ws),
            Seen::Ack {
                id: Some(42),
                seq: Some(9),
                sent_ns: Some(12345)
            }
        );
        let probe_ack = r#"{"type":"ack","room":"r","id":43,"client_id":null}"#;
        assert_eq!(
            classify(probe_ack, Protocol::Ws),
            Seen::Ack {
                id: Some(43),
                seq: None,
                sent_ns: None
            }
        );
        let joined = r#"{"type":"joined","room":"r","members":[],"history":[{"id":1,"text":"b 1 1 1"}],"more":false}"#;
        assert_eq!(classify(joined, Protocol::Ws), Seen::Joined);
        let refused = r#"{"type":"error","code":"rate_limited","message":"m","room":"r","client_id":"1-2-3"}"#;
        assert_eq!(classify(refused, Protocol::Ws), Seen::Error { send: true });
        let presence = r#"{"type":"presence","room":"r","user":"u","event":"joined"}"#;
        assert_eq!(classify(presence, Protocol::Ws), Seen::Other);
    }

    #[test]
    fn python_spaced_json_is_read_too() {
        let message = r#"{"type": "message", "room": "r", "user": "u", "text": "probe", "ts": 1}"#;
        assert_eq!(classify(message, Protocol::Ws), Seen::Probe);
    }

    #[test]
    fn socket_io_events_and_acks_are_told_apart() {
        let message = r#"42["chat-message",{"id":7,"room":"r","user":"u","text":"b 0 1 99"}]"#;
        assert_eq!(
            classify(message, Protocol::Socketio),
            Seen::Bench {
                publisher: 0,
                seq: 1,
                sent_ns: 99
            }
        );
        let ack = r#"4317[{"id":8,"client_id":"0-17-99","room":"r"}]"#;
        assert_eq!(
            classify(ack, Protocol::Socketio),
            Seen::Ack {
                id: Some(8),
                seq: Some(17),
                sent_ns: Some(99)
            }
        );
        let joined =
            r#"430[{"type":"joined","room":"r","members":["u"],"history":[],"more":false}]"#;
        assert_eq!(classify(joined, Protocol::Socketio), Seen::Joined);
        let refused = r#"4318[{"error":{"code":"not_member","message":"m","client_id":"0-18-5"}}]"#;
        assert_eq!(classify(refused, Protocol::Socketio), Seen::SendRefused);
        let error = r#"42["error",{"code":"not_member","message":"m"}]"#;
        assert_eq!(
            classify(error, Protocol::Socketio),
            Seen::Error { send: false }
        );
        assert_eq!(classify("2", Protocol::Socketio), Seen::Other);
    }

    #[test]
    fn fields_are_found_by_whole_key() {
        let frame = r#"{"client_id":"a","id":5}"#;
        assert_eq!(int_field(frame, "id"), Some(5));
        assert_eq!(string_field(frame, "client_id"), Some("a"));
        assert_eq!(int_field(r#"{"id": -3}"#, "id"), Some(-3));
        assert_eq!(string_field(r#"{"text":null}"#, "text"), None);
    }
}
