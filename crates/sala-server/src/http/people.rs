//! People (issue 18): finding someone to write to, opening a DM with them, and blocking.
//!
//! - `GET /api/users?q=`: users whose name starts with `q`, paged; never emails.
//! - `POST /api/dms {"users":[...]}`: the DM of the caller and 1–8 others (201 when new,
//!   200 when they had one).
//! - `PUT` / `DELETE /api/me/blocks/{username}`: a blocked user cannot open a DM with the
//!   blocker or write into one; `GET /api/me/blocks` lists whom the caller blocked.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sala_proto::api::{BlockList, OpenDmRequest, Room, UserPage, UserSummary};
use sala_proto::error::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiQuery};
use super::rooms::{decode_cursor, encode_cursor};
use crate::auth::AuthUser;
use crate::chat::dms::OpenDmError;
use crate::domain::{PageSize, ValidationError};
use crate::error::ApiError;
use crate::http::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearchParams {
    /// The start of a username, case-insensitive, matched literally (1–32 characters).
    q: String,
    /// Page size, 1–100 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Finds people by the start of their username, to write to them.
#[utoipa::path(get, path = "/api/users", tag = "people", security(("bearer" = [])),
    params(UserSearchParams),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search_users(
    State(state): State<AppState>,
    _auth: AuthUser,
    ApiQuery(params): ApiQuery<UserSearchParams>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = PageSize::of_rooms(params.limit)?.get();
    let prefix = params.q.trim();
    if prefix.is_empty() || prefix.chars().count() > 32 || prefix.contains('\0') {
        return Err(ValidationError::new("q", "must be 1 to 32 characters").into());
    }
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut users = state
        .store
        .search_users(prefix, after.as_deref(), limit + 1)
        .await?;
    let next_cursor = if users.len() > limit as usize {
        users.truncate(limit as usize);
        users.last().map(|user| encode_cursor(&user.username))
    } else {
        None
    };
    Ok(Json(UserPage {
        users: users
            .into_iter()
            .map(|user| UserSummary {
                id: user.id,
                username: user.username,
            })
            .collect(),
        next_cursor,
    }))
}

/// Opens the DM of the caller and the people named, or returns the one they have. Every
/// connection of each of them is told of a new one (`room_added`).
#[utoipa::path(post, path = "/api/dms", tag = "people", security(("bearer" = [])),
    request_body = OpenDmRequest,
    responses((status = 201, body = Room, description = "opened now"),
        (status = 200, body = Room, description = "these people had one"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open_dm(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(request): ApiJson<OpenDmRequest>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    match state.chat.open_dm(auth.user_id, &request.users).await {
        Ok((room, true)) => Ok((StatusCode::CREATED, Json(room))),
        Ok((room, false)) => Ok((StatusCode::OK, Json(room))),
        Err(OpenDmError::Invalid(err)) => Err(err.into()),
        Err(err @ OpenDmError::UnknownUser(_)) => Err(ApiError::NotFound(err.to_string())),
        Err(err @ OpenDmError::Blocked) => Err(ApiError::Forbidden(err.to_string())),
        Err(OpenDmError::Store(err)) => Err(err.into()),
    }
}

/// The people the caller has blocked, ordered by username. The list is not paged: it
/// holds only whom the caller chose to block.
#[utoipa::path(get, path = "/api/me/blocks", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = BlockList), (status = 401, body = ErrorBody)))]
pub async fn list_blocks(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<BlockList>, ApiError> {
    let users = state.store.blocked_by(auth.user_id).await?;
    Ok(Json(BlockList {
        users: users
            .into_iter()
            .map(|user| UserSummary {
                id: user.id,
                username: user.username,
            })
            .collect(),
    }))
}

/// Blocks a user: they can no longer open a DM with the caller or write into one.
#[utoipa::path(put, path = "/api/me/blocks/{username}", tag = "people",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Whom to block")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn block(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_block(&state, &auth, &username, true).await
}

/// Lifts a block.
#[utoipa::path(delete, path = "/api/me/blocks/{username}", tag = "people",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Whom to unblock")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_block(&state, &auth, &username, false).await
}

async fn set_block(
    state: &AppState,
    auth: &AuthUser,
    username: &str,
    block: bool,
) -> Result<StatusCode, ApiError> {
    let user = state
        .store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user named '{username}'")))?;
    if user.id == auth.user_id {
        return Err(ValidationError::new("username", "you cannot block yourself").into());
    }
    let changed = state.chat.set_block(auth.user_id, user.id, block).await?;
    if changed {
        tracing::info!(
            user_id = auth.user_id,
            other = user.id,
            block,
            "block changed"
        );
    }
    Ok(StatusCode::NO_CONTENT)
}
