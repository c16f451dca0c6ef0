//! A client's command, understood once (SPEC §3): `Command::parse` turns a decoded frame
//! into domain values or a [`Refusal`], and `Client::apply` carries it out. Every
//! transport hands its frames to the same parser, and so do the fuzz targets, so a rule
//! written here holds everywhere.

use std::sync::Arc;

use sala_proto::frames::ClientFrame;

use super::ChatError;
use crate::cluster::hub::Event;
use crate::domain::{Attachments, Availability, ClientId, Emoji, MessageText, PageSize, RoomName};

/// A command whose fields have passed every check that needs no store.
#[derive(Debug)]
pub enum Command {
    Join {
        room: RoomName,
        since: Option<i64>,
    },
    Leave {
        room: RoomName,
    },
    Send {
        room: RoomName,
        text: MessageText,
        client_id: Option<ClientId>,
        reply_to: Option<i64>,
        attachments: Attachments,
    },
    Edit {
        room: RoomName,
        id: i64,
        text: MessageText,
        client_id: Option<ClientId>,
    },
    Delete {
        room: RoomName,
        id: i64,
    },
    /// Adds (`add`) or removes one's reaction.
    React {
        room: RoomName,
        id: i64,
        emoji: Emoji,
        add: bool,
    },
    History {
        room: RoomName,
        before: Option<i64>,
        after: Option<i64>,
        limit: PageSize,
    },
    Typing {
        room: RoomName,
    },
    Status(Availability),
    Read {
        room: RoomName,
        id: i64,
    },
    Ping,
}

/// What an `error` frame names besides the error: the room and `client_id` of a `send`, so
/// the client knows which message failed (acks and errors of pipelined sends may arrive in
/// any order). Other commands' errors name neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressed {
    pub room: Option<String>,
    pub client_id: Option<String>,
}

impl Addressed {
    /// The `error` frame for `err` about this command.
    pub fn error_event(&self, err: &ChatError) -> Arc<Event> {
        err.to_event_for(self.room.as_deref(), self.client_id.as_deref())
    }
}

/// A frame refused before anything was looked up, with what its `error` frame must name.
#[derive(Debug)]
pub struct Refusal {
    pub error: ChatError,
    pub about: Addressed,
}

impl Refusal {
    pub fn to_event(&self) -> Arc<Event> {
        self.about.error_event(&self.error)
    }
}

impl Command {
    /// Checks a frame's fields. A room name that breaks the naming rule names no room
    /// (`not_found`, as for an unknown one); other fields are `invalid`. An `auth` frame
    /// after authentication is a `bad_request`.
    ///
    /// # Errors
    /// The refusal, naming the room and `client_id` of a `send`.
    pub fn parse(frame: ClientFrame) -> Result<Self, Refusal> {
        let about = Self::addressed(&frame);
        let refuse = |error: ChatError| Refusal {
            error,
            about: about.clone(),
        };
        let command = match frame {
            ClientFrame::Auth { .. } => {
                return Err(refuse(ChatError::BadRequest(
                    "already authenticated".into(),
                )));
            }
            ClientFrame::Join { room, since } => Self::Join {
                room: room_named(&room).map_err(refuse)?,
                since,
            },
            ClientFrame::Leave { room } => Self::Leave {
                room: room_named(&room).map_err(refuse)?,
            },
            ClientFrame::Send {
                room,
                text,
                client_id,
                reply_to,
                attachments,
            } => {
                let room = room_named(&room).map_err(refuse)?;
                let attachments =
                    Attachments::parse(attachments).map_err(|err| refuse(err.into()))?;
                let text = match text {
                    None if attachments.is_empty() => {
                        return Err(refuse(ChatError::BadRequest("missing field `text`".into())));
                    }
                    None => MessageText::parse_beside_files(""),
                    Some(text) if attachments.is_empty() => MessageText::parse(&text),
                    Some(text) => MessageText::parse_beside_files(&text),
                };
                Self::Send {
                    room,
                    text: text.map_err(|err| refuse(err.into()))?,
                    client_id: client_id
                        .map(ClientId::parse)
                        .transpose()
                        .map_err(|err| refuse(err.into()))?,
                    reply_to,
                    attachments,
                }
            }
            ClientFrame::Edit {
                room,
                id,
                text,
                client_id,
            } => Self::Edit {
                room: room_named(&room).map_err(refuse)?,
                id,
                text: MessageText::parse(&text).map_err(|err| refuse(err.into()))?,
                client_id: client_id
                    .map(ClientId::parse)
                    .transpose()
                    .map_err(|err| refuse(err.into()))?,
            },
            ClientFrame::Delete { room, id } => Self::Delete {
                room: room_named(&room).map_err(refuse)?,
                id,
            },
            ClientFrame::React { room, id, emoji } => {
                reaction(&room, id, &emoji, true).map_err(refuse)?
            }
            ClientFrame::Unreact { room, id, emoji } => {
                reaction(&room, id, &emoji, false).map_err(refuse)?
            }
            ClientFrame::History {
                room,
                before,
                after,
                limit,
            } => Self::History {
                limit: PageSize::of_messages(limit).map_err(|err| refuse(err.into()))?,
                room: room_named(&room).map_err(refuse)?,
                before,
                after,
            },
            ClientFrame::Typing { room } => Self::Typing {
                room: room_named(&room).map_err(refuse)?,
            },
            ClientFrame::Status { status, note } => Self::Status(
                Availability::parse(&status, note.as_deref()).map_err(|err| refuse(err.into()))?,
            ),
            ClientFrame::Read { room, id } => Self::Read {
                room: room_named(&room).map_err(refuse)?,
                id,
            },
            ClientFrame::Ping => Self::Ping,
        };
        Ok(command)
    }

    /// What this command's `error` frame names, should applying it fail: a send's or a
    /// change's room, and its `client_id`.
    pub fn about(&self) -> Addressed {
        match self {
            Self::Send {
                room, client_id, ..
            }
            | Self::Edit {
                room, client_id, ..
            } => Addressed {
                room: Some(room.as_ref().to_owned()),
                client_id: client_id.as_ref().map(|id| id.as_ref().to_owned()),
            },
            Self::Delete { room, .. } | Self::React { room, .. } => Addressed {
                room: Some(room.as_ref().to_owned()),
                client_id: None,
            },
            _ => Addressed::default(),
        }
    }

    /// What a refused frame's `error` frame names: a `send`'s room as the client wrote it,
    /// lower-cased (room names are case-insensitive), and its `client_id` even when one of
    /// them broke a rule.
    pub fn addressed(frame: &ClientFrame) -> Addressed {
        match frame {
            ClientFrame::Send {
                room, client_id, ..
            }
            | ClientFrame::Edit {
                room, client_id, ..
            } => Addressed {
                room: Some(room.to_ascii_lowercase()),
                client_id: client_id.clone(),
            },
            ClientFrame::Delete { room, .. }
            | ClientFrame::React { room, .. }
            | ClientFrame::Unreact { room, .. } => Addressed {
                room: Some(room.to_ascii_lowercase()),
                client_id: None,
            },
            _ => Addressed::default(),
        }
    }

    /// Whether the command writes to a room (a send or a change to a message): these
    /// take from the user's send rate, the others from the command rate.
    pub fn writes(frame: &ClientFrame) -> bool {
        matches!(
            frame,
            ClientFrame::Send { .. }
                | ClientFrame::Edit { .. }
                | ClientFrame::Delete { .. }
                | ClientFrame::React { .. }
                | ClientFrame::Unreact { .. }
        )
    }
}

fn reaction(room: &str, id: i64, emoji: &str, add: bool) -> Result<Command, ChatError> {
    Ok(Command::React {
        room: room_named(room)?,
        id,
        emoji: Emoji::parse(emoji)?,
        add,
    })
}

/// A name that cannot be valid names no room.
fn room_named(name: &str) -> Result<RoomName, ChatError> {
    RoomName::parse(name).map_err(|_| ChatError::NotFound(format!("no room named '{name}'")))
}

#[cfg(test)]
mod tests {
    use sala_proto::error::ErrorCode;

    use super::*;

    fn send(room: &str, text: &str, client_id: Option<&str>) -> ClientFrame {
        ClientFrame::Send {
            room: room.into(),
            text: Some(text.into()),
            client_id: client_id.map(str::to_owned),
            reply_to: None,
            attachments: Vec::new(),
        }
    }

    #[test]
    fn room_names_are_canonical_once_parsed() {
        let Ok(Command::Join { room, since }) = Command::parse(ClientFrame::Join {
            room: "General".into(),
            since: Some(3),
        }) else {
            panic!("a valid join");
        };
        assert_eq!((room.as_ref(), since), ("general", Some(3)));
    }

    #[test]
    fn a_refused_send_names_its_room_and_client_id() {
        let refusal = Command::parse(send("General", "", Some("c1"))).unwrap_err();
        assert_eq!(refusal.error.code(), ErrorCode::Invalid);
        assert_eq!(
            refusal.about,
            Addressed {
                room: Some("general".into()),
                client_id: Some("c1".into()),
            }
        );
        let refusal = Command::parse(send("no room!", "hi", None)).unwrap_err();
        assert_eq!(refusal.error.code(), ErrorCode::NotFound);
        assert_eq!(refusal.about.room.as_deref(), Some("no room!"));
    }

    #[test]
    fn other_refusals_name_nothing() {
        let refusal = Command::parse(ClientFrame::History {
            room: "general".into(),
            before: None,
            after: None,
            limit: Some(0),
        })
        .unwrap_err();
        assert_eq!(
            (refusal.error.code(), refusal.about),
            (ErrorCode::Invalid, Addressed::default())
        );
        let refusal = Command::parse(ClientFrame::Auth { token: "t".into() }).unwrap_err();
        assert_eq!(refusal.error.code(), ErrorCode::BadRequest);
    }
}
