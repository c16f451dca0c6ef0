//! `Event`: one server frame, serialised to JSON once and shared by every receiver.

use std::sync::Arc;

use bytes::Bytes;
use sala_proto::frames::ServerFrame;

/// A frame on its way to one or many connections. Built once per broadcast; receivers hold
/// an `Arc` and transports take either the typed frame or its JSON text.
#[derive(Debug)]
pub struct Event {
    frame: ServerFrame,
    /// The frame as one JSON object (valid UTF-8).
    json: Bytes,
}

impl Event {
    /// Serialises `frame`.
    ///
    /// # Panics
    /// Never in practice: `ServerFrame` holds only strings, numbers and booleans, which
    /// always serialise.
    pub fn new(frame: ServerFrame) -> Arc<Self> {
        let json = serde_json::to_vec(&frame).expect("BUG: server frames always serialise");
        Arc::new(Self {
            frame,
            json: Bytes::from(json),
        })
    }

    pub fn frame(&self) -> &ServerFrame {
        &self.frame
    }

    /// The JSON text, cheap to clone.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The id of the message this event carries, if it is a `message` frame.
    pub fn message_id(&self) -> Option<i64> {
        match &self.frame {
            ServerFrame::Message(message) => Some(message.id),
            _ => None,
        }
    }
}
