//! Rooms (SPEC §2): search with cursor pagination, create, look up, read history.
//!
//! A public room is there for every logged-in user to find, read and join; a private room
//! or a DM only for its members, and anyone else is answered as for a name nobody uses
//! ([`crate::chat::visibility`]).

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use sala_proto::api::{
    CreateRoomRequest, MemberPage, MessagePage, Room, RoomMember, RoomPage, UpdateRoomRequest,
    UserStatus,
};
use sala_proto::error::ErrorBody;
use sala_store::{MessageQuery, NewRoom, RoomKind, RoomQuery, RoomRecord};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiQuery};
use crate::auth::AuthUser;
use crate::domain::{PageSize, RoomName, RoomTopic, ValidationError};
use crate::error::ApiError;
use crate::http::AppState;
use crate::wire;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomListParams {
    /// Case-insensitive substring of the name or topic, matched literally.
    q: Option<String>,
    /// Page size, 1–100 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Cursors are opaque to clients: the last name of the page, base64url-encoded.
pub(super) fn encode_cursor(last_name: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_name)
}

pub(super) fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|name| !name.contains('\0'))
        .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))
}

/// Lists rooms by name, optionally filtered by `q`, one page at a time.
#[utoipa::path(get, path = "/api/rooms", tag = "rooms", security(("bearer" = [])),
    params(RoomListParams),
    responses((status = 200, body = RoomPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_rooms(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(params): ApiQuery<RoomListParams>,
) -> Result<Json<RoomPage>, ApiError> {
    let limit = PageSize::of_rooms(params.limit)?.get();
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let search = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.contains('\0')) {
        return Err(ValidationError::new("q", "must not contain NUL characters").into());
    }
    // One more than asked tells whether another page exists.
    let mut rooms = state
        .store
        .list_rooms(RoomQuery {
            viewer: Some(auth.user_id),
            search,
            after_name: after.as_deref(),
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if rooms.len() > limit as usize {
        rooms.truncate(limit as usize);
        rooms.last().map(|room| encode_cursor(&room.name))
    } else {
        None
    };
    Ok(Json(RoomPage {
        rooms: rooms
            .into_iter()
            .map(|room| {
                let online = state.chat.online_count(&room.name);
                wire::room(room, online)
            })
            .collect(),
        next_cursor,
    }))
}

/// Creates a public room, or with `private: true` an invite-only one; its creator becomes
/// its owner and first member. Names starting with `dm.` are kept for DMs (422). A user may create
/// `--rooms-per-hour` rooms per hour (then 429 with `Retry-After`).
#[utoipa::path(post, path = "/api/rooms", tag = "rooms", security(("bearer" = [])),
    request_body = CreateRoomRequest,
    responses((status = 201, body = Room), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn create_room(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(request): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    let name = RoomName::for_new_room(&request.name)?;
    let topic = RoomTopic::parse(request.topic.as_deref())?;
    state
        .room_quota
        .take(auth.user_id, Instant::now())
        .map_err(|exhausted| ApiError::RateLimited {
            retry_after_secs: exhausted.retry_after.as_secs().max(1),
        })?;
    let now = Utc::now();
    let created = state
        .store
        .create_room(NewRoom {
            name: name.as_ref(),
            kind: if request.private {
                RoomKind::Private
            } else {
                RoomKind::Public
            },
            topic: topic.as_deref(),
            created_by: Some(auth.user_id),
            created_at: now,
        })
        .await;
    let room = match created {
        Ok(room) => room,
        Err(err) => {
            // Only rooms made count: a taken name or an outage costs the user nothing.
            state.room_quota.give_back(&auth.user_id);
            return Err(err.into());
        }
    };
    tracing::info!(room = %room.name, kind = room.kind.as_str(), user_id = auth.user_id, "room created");
    Ok((StatusCode::CREATED, Json(wire::room(room, 0))))
}

/// The room, if the caller may see it. A name that cannot be valid names no room (404
/// rather than 422), and a room the caller may not see answers the same 404.
pub(super) async fn find_room(
    state: &AppState,
    auth: &AuthUser,
    name: &str,
) -> Result<RoomRecord, ApiError> {
    let not_found = || ApiError::NotFound(format!("no room named '{name}'"));
    let name = RoomName::parse(name).map_err(|_| not_found())?;
    state
        .chat
        .visible_room(auth.user_id, &name)
        .await?
        .ok_or_else(not_found)
}

/// One room.
#[utoipa::path(get, path = "/api/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses((status = 200, body = Room), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
) -> Result<Json<Room>, ApiError> {
    let room = find_room(&state, &auth, &name).await?;
    Ok(Json(state.chat.room_object(room).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Only messages with a smaller id.
    before: Option<i64>,
    /// Only messages with a larger id; the page then runs forward from here.
    after: Option<i64>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// A thread instead: this message (its root), then the messages answering it, by id
    /// (`after` pages on; `before` is not taken with it).
    thread: Option<i64>,
    /// The page around this message instead (a search hit opened in context): it and
    /// the older half of the page before it, the newer half after. Taken alone.
    around: Option<i64>,
}

/// A page of a room's history, oldest first. Without `after`: the newest messages (before
/// `before`, if given), and `more` says older ones exist. With `after`: the messages just
/// after it, and `more` says newer ones exist. With `thread`: that message and the ones
/// answering it. With `around`: that message in the middle of its page, and `more` says
/// the page was cut on either side.
#[utoipa::path(get, path = "/api/rooms/{name}/messages", tag = "rooms",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"), MessageParams),
    responses((status = 200, body = MessagePage), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn room_messages(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<MessageParams>,
) -> Result<Json<MessagePage>, ApiError> {
    let limit = PageSize::of_messages(params.limit)?.get();
    let room = find_room(&state, &auth, &name).await?;
    if let Some(around) = params.around {
        if params.before.is_some() || params.after.is_some() || params.thread.is_some() {
            return Err(ApiError::BadRequest(
                "around is taken alone, without before, after or thread".into(),
            ));
        }
        let newer_half = limit / 2;
        let (mut messages, older_cut) = state
            .store
            .list_messages(
                room.id,
                MessageQuery {
                    before: Some(around.saturating_add(1)),
                    after: None,
                    limit: limit - newer_half,
                },
            )
            .await?;
        if messages.last().map(|m| m.id) != Some(around) {
            return Err(ApiError::NotFound(format!(
                "no message {around} in this room"
            )));
        }
        let (newer, newer_cut) = if newer_half == 0 {
            (Vec::new(), false)
        } else {
            state
                .store
                .list_messages(
                    room.id,
                    MessageQuery {
                        before: None,
                        after: Some(around),
                        limit: newer_half,
                    },
                )
                .await?
        };
        messages.extend(newer);
        return Ok(Json(MessagePage {
            messages: messages.into_iter().map(wire::message).collect(),
            more: older_cut || newer_cut,
        }));
    }
    let (messages, more) = match params.thread {
        Some(_) if params.before.is_some() => {
            return Err(ApiError::BadRequest(
                "a thread pages forward: give `after`, not `before`".into(),
            ));
        }
        Some(root) => {
            let (page, more) = state
                .store
                .thread(room.id, root, params.after, limit)
                .await?;
            if page.is_empty() && params.after.is_none() {
                return Err(ApiError::NotFound(format!(
                    "no message {root} in this room"
                )));
            }
            (page, more)
        }
        None => {
            state
                .store
                .list_messages(
                    room.id,
                    MessageQuery {
                        before: params.before,
                        after: params.after,
                        limit,
                    },
                )
                .await?
        }
    };
    Ok(Json(MessagePage {
        messages: messages.into_iter().map(wire::message).collect(),
        more,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberParams {
    /// Page size, 1–100 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The room's members, online or not, by username, with their role and status; for anyone
/// who may see the room.
#[utoipa::path(get, path = "/api/rooms/{name}/members", tag = "rooms",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"), MemberParams),
    responses((status = 200, body = MemberPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn room_members(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<MemberParams>,
) -> Result<Json<MemberPage>, ApiError> {
    let limit = PageSize::of_rooms(params.limit)?.get();
    let room = find_room(&state, &auth, &name).await?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut members = state
        .store
        .room_members(room.id, after.as_deref(), limit + 1)
        .await?;
    let next_cursor = if members.len() > limit as usize {
        members.truncate(limit as usize);
        members.last().map(|member| encode_cursor(&member.username))
    } else {
        None
    };
    Ok(Json(MemberPage {
        members: members
            .into_iter()
            .map(|member| RoomMember {
                username: member.username,
                role: wire::role(member.role),
                status: if member.busy {
                    UserStatus::Busy
                } else {
                    UserStatus::Available
                },
                status_note: member.note,
            })
            .collect(),
        next_cursor,
    }))
}

/// Changes the room's topic: its admins and owner; the room hears it live (`room_updated`).
#[utoipa::path(patch, path = "/api/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    request_body = UpdateRoomRequest,
    responses((status = 200, body = Room), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<UpdateRoomRequest>,
) -> Result<Json<Room>, ApiError> {
    let name = RoomName::parse(&name)
        .map_err(|_| ApiError::NotFound(format!("no room named '{name}'")))?;
    let topic = request
        .topic
        .as_ref()
        .map(|topic| RoomTopic::parse(topic.as_deref()))
        .transpose()?;
    let mut room = None;
    if let Some(topic) = topic {
        room = Some(
            state
                .chat
                .set_topic(auth.user_id, &name, topic.as_deref())
                .await?,
        );
    }
    if let Some(allowed) = request.members_invite {
        room = Some(
            state
                .chat
                .set_members_invite(auth.user_id, &name, allowed)
                .await?,
        );
    }
    room.map(Json)
        .ok_or_else(|| ApiError::BadRequest("give `topic`, `members_invite`, or both".into()))
}

/// Archives the room: its owner only. It is gone for everyone at once (`room_removed`), its
/// history kept, its name not given again.
#[utoipa::path(delete, path = "/api/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn archive_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let room = RoomName::parse(&name)
        .map_err(|_| ApiError::NotFound(format!("no room named '{name}'")))?;
    let actor = state
        .store
        .get_user(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state.chat.archive_room(&actor, &room).await?;
    Ok(StatusCode::NO_CONTENT)
}
