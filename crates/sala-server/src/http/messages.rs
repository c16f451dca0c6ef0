//! Changes to messages over HTTP (issue 19). The rules, and the writer that orders every
//! change of a room, are the chat layer's ([`crate::chat::changes`]); this module reads the
//! request and answers the message as it is after.
//!
//! | route | what |
//! |---|---|
//! | `PATCH /api/rooms/{name}/messages/{id} {"text","client_id"?}` | edit one's own |
//! | `DELETE /api/rooms/{name}/messages/{id}` | delete one's own (admins, owner: anyone's) |
//! | `PUT` / `DELETE /api/rooms/{name}/messages/{id}/reactions/{emoji}` | react, take it back |

use axum::Json;
use axum::extract::{Path, State};
use sala_proto::api::{EditRequest, Message};
use sala_proto::error::ErrorBody;

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::chat::ChatError;
use crate::chat::changes::ChangeRequest;
use crate::domain::{ClientId, Emoji, MessageText, RoomName};
use crate::error::ApiError;
use crate::http::AppState;
use crate::wire;

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::BadRequest(text) => Self::BadRequest(text),
            ChatError::NotFound(text) => Self::NotFound(text),
            ChatError::NotMember(room) => Self::Forbidden(format!("join the room '{room}' first")),
            ChatError::Invalid(err) => Self::Invalid(err),
            ChatError::RateLimited => Self::RateLimited {
                retry_after_secs: 1,
            },
            ChatError::LimitReached(text) => Self::Refused(text),
            ChatError::Forbidden(text) => Self::Forbidden(text),
            ChatError::Unavailable => {
                Self::Unavailable(anyhow::anyhow!("the message writer is not taking writes"))
            }
            ChatError::Internal => Self::Internal(anyhow::anyhow!("a change went astray")),
        }
    }
}

fn room_name(name: &str) -> Result<RoomName, ApiError> {
    RoomName::parse(name).map_err(|_| ApiError::NotFound(format!("no room named '{name}'")))
}

async fn change(
    state: &AppState,
    auth: &AuthUser,
    name: &str,
    id: i64,
    request: ChangeRequest,
) -> Result<Json<Message>, ApiError> {
    let room = room_name(name)?;
    let record = state
        .chat
        .change_message(auth.user_id, &room, id, request)
        .await?;
    Ok(Json(wire::message(record)))
}

/// Replaces the text of one's own message; the room hears `message_updated`. The same
/// `client_id` as the last edit changes nothing again.
#[utoipa::path(patch, path = "/api/rooms/{name}/messages/{id}", tag = "messages",
    security(("bearer" = [])), request_body = EditRequest,
    params(("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, description = "Message id")),
    responses((status = 200, body = Message, description = "the message as it is now"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn edit_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, id)): Path<(String, i64)>,
    ApiJson(request): ApiJson<EditRequest>,
) -> Result<Json<Message>, ApiError> {
    let text = MessageText::parse(&request.text)?.into_inner();
    let client_id = request
        .client_id
        .map(ClientId::parse)
        .transpose()?
        .map(ClientId::into_inner);
    change(
        &state,
        &auth,
        &name,
        id,
        ChangeRequest::Edit { text, client_id },
    )
    .await
}

/// Deletes a message: one's own, or, for the room's admins and owner, anyone's. Its text
/// is removed from storage; a tombstone (`deleted: true`, empty text) keeps its place.
/// Deleting a deleted message answers the tombstone again.
#[utoipa::path(delete, path = "/api/rooms/{name}/messages/{id}", tag = "messages",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, description = "Message id")),
    responses((status = 200, body = Message, description = "the tombstone"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Json<Message>, ApiError> {
    change(&state, &auth, &name, id, ChangeRequest::Delete).await
}

fn emoji(value: &str) -> Result<String, ApiError> {
    Ok(Emoji::parse(value)?.into_inner())
}

/// Adds the caller's reaction (one per emoji; at most 20 different emoji on a message).
#[utoipa::path(put, path = "/api/rooms/{name}/messages/{id}/reactions/{emoji}",
    tag = "messages", security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, description = "Message id"),
        ("emoji" = String, Path, description = "One emoji, percent-encoded")),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn react(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, id, value)): Path<(String, i64, String)>,
) -> Result<Json<Message>, ApiError> {
    let emoji = emoji(&value)?;
    change(
        &state,
        &auth,
        &name,
        id,
        ChangeRequest::React { emoji, add: true },
    )
    .await
}

/// Takes the caller's reaction back.
#[utoipa::path(delete, path = "/api/rooms/{name}/messages/{id}/reactions/{emoji}",
    tag = "messages", security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"),
        ("id" = i64, Path, description = "Message id"),
        ("emoji" = String, Path, description = "One emoji, percent-encoded")),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn unreact(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, id, value)): Path<(String, i64, String)>,
) -> Result<Json<Message>, ApiError> {
    let emoji = emoji(&value)?;
    change(
        &state,
        &auth,
        &name,
        id,
        ChangeRequest::React { emoji, add: false },
    )
    .await
}
