//! `Event`: one server frame, serialised to JSON once and shared by every receiver.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sala_proto::frames::ServerFrame;

/// A frame on its way to one or many connections. Built once per broadcast; receivers hold
/// an `Arc` and transports take either the typed frame or its JSON text.
pub struct Event {
    frame: ServerFrame,
    /// The frame as one JSON object (valid UTF-8).
    json: Bytes,
    /// One transport's own form of the frame (a WebSocket text payload, say), made by the
    /// first receiver and shared by the others, so that per-receiver work stays O(1). The
    /// hub never looks inside: it does not know the transports' types.
    prepared: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
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
            prepared: OnceLock::new(),
        })
    }

    /// The frame in a transport's own form `T`, made from the JSON by `prepare` once per
    /// event and cloned for every receiver after the first. (Should two transports ask
    /// for different types, the second one's form is made each time, never stored.)
    pub fn prepared<T: Any + Clone + Send + Sync>(&self, prepare: impl FnOnce(&Bytes) -> T) -> T {
        if let Some(slot) = self.prepared.get() {
            return match slot.downcast_ref::<T>() {
                Some(prepared) => prepared.clone(),
                None => prepare(&self.json),
            };
        }
        let prepared = prepare(&self.json);
        // Two first receivers at once both prepare; one of the two results is kept.
        let _ = self.prepared.set(Box::new(prepared.clone()));
        prepared
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_prepared_form_is_made_once_and_shared() {
        let event = Event::new(ServerFrame::Pong);
        let made = Cell::new(0);
        let prepare = |json: &Bytes| {
            made.set(made.get() + 1);
            String::from_utf8(json.to_vec()).unwrap()
        };
        let first: String = event.prepared(prepare);
        let second: String = event.prepared(prepare);
        assert_eq!(
            (first.as_str(), second.as_str()),
            (r#"{"type":"pong"}"#, r#"{"type":"pong"}"#)
        );
        assert_eq!(made.get(), 1);
        // Another type is made each time, never stored over the first.
        let length: usize = event.prepared(|json| json.len());
        assert_eq!(length, first.len());
        assert_eq!(event.prepared(prepare), first);
        assert_eq!(made.get(), 1);
    }
}
