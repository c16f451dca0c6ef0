//! `Event`: one server frame, serialised to JSON once and shared by every receiver.
//!
//! An event keeps its frame in one form only, the JSON text: a queued `joined` of a thousand
//! messages costs its bytes once, not once as a typed tree and again as text. What the hub
//! routes on (a message's id) is read out when the event is made; a transport that needs the
//! typed frame back (Socket.io) decodes it when it delivers, and keeps nothing.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sala_proto::frames::ServerFrame;

/// A frame on its way to one or many connections. Built once per broadcast; receivers hold
/// an `Arc` and transports take its JSON text, or decode the typed frame.
pub struct Event {
    /// The frame as one JSON object (valid UTF-8).
    json: Bytes,
    /// The id of the message this event carries, if it is a `message` frame.
    message_id: Option<i64>,
    /// The position in its room's log of the change this event carries (a `message` or
    /// a `message_updated`): what the hub deduplicates and resumes by.
    position: Option<i64>,
    /// The transports' own forms of the frame (a WebSocket text payload sharing `json`'s
    /// bytes, a Socket.io argument for a `message`), each made by the first receiver of that
    /// transport and shared by the others, so that per-receiver work stays O(1). One slot
    /// per transport. The hub never looks inside: it does not know the transports' types.
    prepared: [OnceLock<Box<dyn Any + Send + Sync>>; PREPARED_SLOTS],
}

/// Forms an event can keep: one per transport (`/ws`, Socket.io).
const PREPARED_SLOTS: usize = 2;

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("json", &String::from_utf8_lossy(&self.json))
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
        let (message_id, position) = routing(&frame);
        Arc::new(Self {
            json: Bytes::from(json),
            message_id,
            position,
            prepared: [OnceLock::new(), OnceLock::new()],
        })
    }

    /// An event from JSON another node serialised: checked to be a server frame (so that
    /// [`decode`](Self::decode) holds), kept as it came.
    ///
    /// # Errors
    /// The text is not a server frame this node knows.
    pub fn from_json(json: Bytes) -> Result<Arc<Self>, serde_json::Error> {
        let frame: ServerFrame = serde_json::from_slice(&json)?;
        let (message_id, position) = routing(&frame);
        Ok(Arc::new(Self {
            json,
            message_id,
            position,
            prepared: [OnceLock::new(), OnceLock::new()],
        }))
    }

    /// The typed frame, decoded from the JSON (for transports that need its fields).
    ///
    /// # Panics
    /// Never in practice: the JSON was written from a `ServerFrame`, and reads back as one.
    pub fn decode(&self) -> ServerFrame {
        serde_json::from_slice(&self.json).expect("BUG: an event's JSON is a server frame")
    }

    /// What the event costs while it waits in a connection's queue, in bytes.
    pub fn cost(&self) -> usize {
        self.json.len() + std::mem::size_of::<Self>()
    }

    /// The frame in a transport's own form `T`, made from the JSON by `prepare` once per
    /// event and cloned for every receiver after the first. (Should more types be asked for
    /// than there are slots, the extra ones are made each time, never stored.)
    pub fn prepared<T: Any + Clone + Send + Sync>(&self, prepare: impl FnOnce(&Bytes) -> T) -> T {
        for slot in &self.prepared {
            match slot.get() {
                Some(kept) => {
                    if let Some(prepared) = kept.downcast_ref::<T>() {
                        return prepared.clone();
                    }
                }
                None => {
                    let prepared = prepare(&self.json);
                    // Two first receivers at once both prepare; one result is kept (or,
                    // if another type took this slot meanwhile, the next call uses the next).
                    let _ = slot.set(Box::new(prepared.clone()));
                    return prepared;
                }
            }
        }
        prepare(&self.json)
    }

    /// The JSON text, cheap to clone.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The id of the message this event carries, if it is a `message` frame.
    pub fn message_id(&self) -> Option<i64> {
        self.message_id
    }

    /// The log position of the change this event carries, if it is one.
    pub fn position(&self) -> Option<i64> {
        self.position
    }
}

/// What the hub routes a frame by: a new message's id, and the position of a change.
fn routing(frame: &ServerFrame) -> (Option<i64>, Option<i64>) {
    match frame {
        // A message read back after a change (a catch-up) carries its latest position.
        ServerFrame::Message(message) => (Some(message.id), Some(message.seq.max(message.id))),
        ServerFrame::MessageUpdated { message, .. } => (None, Some(message.seq)),
        _ => (None, None),
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
        // A second type gets the second slot; a third is made each time, never stored.
        let lengths = Cell::new(0);
        let length = |json: &Bytes| {
            lengths.set(lengths.get() + 1);
            json.len()
        };
        assert_eq!(event.prepared(length), first.len());
        assert_eq!(event.prepared(length), first.len());
        assert_eq!(lengths.get(), 1);
        let thirds = Cell::new(0);
        let third = |_: &Bytes| {
            thirds.set(thirds.get() + 1);
            1_u8
        };
        assert_eq!((event.prepared(third), event.prepared(third)), (1, 1));
        assert_eq!(thirds.get(), 2);
        assert_eq!(event.prepared(prepare), first);
        assert_eq!(made.get(), 1);
    }
}
