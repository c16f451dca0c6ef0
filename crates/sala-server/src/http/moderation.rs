//! Moderation over HTTP (issue 18): invites, kick, ban, mute, roles, the record. Who may
//! do what is the chat layer's rule ([`crate::chat::moderation`]); this module reads the
//! request and says the outcome.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/rooms/{name}/invites {"username"}` | invite (admins, owner) |
//! | `GET /api/me/invites`, `DELETE /api/me/invites/{name}` | the caller's invites; decline |
//! | `POST /api/rooms/{name}/kick {"username","reason"?}` | remove now; may rejoin a public room |
//! | `PUT` / `DELETE /api/rooms/{name}/bans/{username}` | ban (`reason`, `duration_secs`), lift |
//! | `PUT` / `DELETE /api/rooms/{name}/mutes/{username}` | mute, lift |
//! | `PUT /api/rooms/{name}/members/{username}/role {"role"}` | owner: `admin` or `member` |
//! | `GET /api/rooms/{name}/audit?before=&limit=` | the record, for admins and the owner |

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{SecondsFormat, Utc};
use sala_proto::api::{
    AuditEntry, AuditPage, Invite, InviteRequest, Invites, KickRequest, RestrictRequest,
    RoleRequest,
};
use sala_proto::error::ErrorBody;
use sala_store::{ModerationAction, Role};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiQuery};
use crate::auth::AuthUser;
use crate::chat::moderation::{ModerationError, Request};
use crate::domain::{PageSize, RoomName, ValidationError};
use crate::error::ApiError;
use crate::http::AppState;

/// Longest reason, in characters.
const MAX_REASON_CHARS: usize = 500;
/// Shortest and longest ban or mute.
const DURATION_SECS: std::ops::RangeInclusive<u64> = 60..=10 * 366 * 24 * 3600;

impl From<ModerationError> for ApiError {
    fn from(err: ModerationError) -> Self {
        match err {
            ModerationError::NotFound(text) => Self::NotFound(text),
            ModerationError::Forbidden(text) => Self::Forbidden(text),
            ModerationError::Invalid(text) => Self::Refused(text),
            ModerationError::Store(err) => err.into(),
        }
    }
}

fn room_name(name: &str) -> Result<RoomName, ApiError> {
    RoomName::parse(name).map_err(|_| ApiError::NotFound(format!("no room named '{name}'")))
}

fn reason(reason: Option<&str>) -> Result<Option<&str>, ApiError> {
    let reason = reason.map(str::trim).filter(|reason| !reason.is_empty());
    match reason {
        Some(text) if text.chars().count() > MAX_REASON_CHARS || text.contains('\0') => Err(
            ValidationError::new("reason", "must be at most 500 characters, without NUL").into(),
        ),
        _ => Ok(reason),
    }
}

async fn run(
    state: &AppState,
    auth: &AuthUser,
    room: &str,
    target: &str,
    action: ModerationAction,
    why: Option<&str>,
    duration_secs: Option<u64>,
) -> Result<StatusCode, ApiError> {
    let room = room_name(room)?;
    let why = reason(why)?;
    let until = match duration_secs {
        Some(secs) if !DURATION_SECS.contains(&secs) => {
            return Err(ValidationError::new("duration_secs", "must be 60 s to 10 years").into());
        }
        Some(secs) => Some(Utc::now() + chrono::Duration::seconds(secs as i64)),
        None => None,
    };
    let actor = state
        .store
        .get_user(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state
        .chat
        .moderate(
            &actor,
            Request {
                room: &room,
                target,
                action,
                reason: why,
                until,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invites someone into the room (admins and the owner); they see it live (`invited`) and
/// in `GET /api/me/invites`, and accept by joining.
#[utoipa::path(post, path = "/api/rooms/{name}/invites", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path)), request_body = InviteRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn invite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<InviteRequest>,
) -> Result<StatusCode, ApiError> {
    run(
        &state,
        &auth,
        &name,
        &request.username,
        ModerationAction::Invite,
        None,
        None,
    )
    .await
}

/// The invitations waiting for the caller.
#[utoipa::path(get, path = "/api/me/invites", tag = "moderation", security(("bearer" = [])),
    responses((status = 200, body = Invites), (status = 401, body = ErrorBody)))]
pub async fn my_invites(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Invites>, ApiError> {
    let mut invites = Vec::new();
    for record in state.store.invites_for(auth.user_id).await? {
        invites.push(Invite {
            room: state.chat.room_object(record.room).await?,
            invited_by: record.invited_by,
            created_at: record.created_at,
        });
    }
    Ok(Json(Invites { invites }))
}

/// Declines an invitation.
#[utoipa::path(delete, path = "/api/me/invites/{name}", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn decline_invite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::NotFound(format!("no invitation into '{name}'"));
    let room = state
        .store
        .get_room(room_name(&name)?.as_ref())
        .await?
        .ok_or_else(not_found)?;
    if state.store.decline_invite(room.id, auth.user_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// Removes a member now, on every connection and node; they may join a public room again.
#[utoipa::path(post, path = "/api/rooms/{name}/kick", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path)), request_body = KickRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn kick(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<KickRequest>,
) -> Result<StatusCode, ApiError> {
    let why = request.reason.as_deref();
    run(
        &state,
        &auth,
        &name,
        &request.username,
        ModerationAction::Kick,
        why,
        None,
    )
    .await
}

/// Bans someone: removed now, and kept out until the ban ends or is lifted.
#[utoipa::path(put, path = "/api/rooms/{name}/bans/{username}", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path), ("username" = String, Path)),
    request_body = RestrictRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn ban(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, username)): Path<(String, String)>,
    ApiJson(request): ApiJson<RestrictRequest>,
) -> Result<StatusCode, ApiError> {
    let why = request.reason.as_deref();
    run(
        &state,
        &auth,
        &name,
        &username,
        ModerationAction::Ban,
        why,
        request.duration_secs,
    )
    .await
}

/// Lifts a ban.
#[utoipa::path(delete, path = "/api/rooms/{name}/bans/{username}", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unban(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    run(
        &state,
        &auth,
        &name,
        &username,
        ModerationAction::Unban,
        None,
        None,
    )
    .await
}

/// Mutes someone: they still read the room, but cannot send or type in it.
#[utoipa::path(put, path = "/api/rooms/{name}/mutes/{username}", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path), ("username" = String, Path)),
    request_body = RestrictRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn mute(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, username)): Path<(String, String)>,
    ApiJson(request): ApiJson<RestrictRequest>,
) -> Result<StatusCode, ApiError> {
    let why = request.reason.as_deref();
    run(
        &state,
        &auth,
        &name,
        &username,
        ModerationAction::Mute,
        why,
        request.duration_secs,
    )
    .await
}

/// Lifts a mute.
#[utoipa::path(delete, path = "/api/rooms/{name}/mutes/{username}", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unmute(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    run(
        &state,
        &auth,
        &name,
        &username,
        ModerationAction::Unmute,
        None,
        None,
    )
    .await
}

/// The owner makes a member an admin, or an admin a member again.
#[utoipa::path(put, path = "/api/rooms/{name}/members/{username}/role", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path), ("username" = String, Path)),
    request_body = RoleRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_role(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((name, username)): Path<(String, String)>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> Result<StatusCode, ApiError> {
    let role = match request.role {
        sala_proto::api::Role::Owner => Role::Owner,
        sala_proto::api::Role::Admin => Role::Admin,
        sala_proto::api::Role::Member => Role::Member,
    };
    run(
        &state,
        &auth,
        &name,
        &username,
        ModerationAction::SetRole(role),
        None,
        None,
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries older than this id (`next_before` of the previous page).
    before: Option<i64>,
    /// Page size, 1–100 (default 50).
    limit: Option<u32>,
}

/// The room's moderation record, newest first: for its admins and owner.
#[utoipa::path(get, path = "/api/rooms/{name}/audit", tag = "moderation",
    security(("bearer" = [])), params(("name" = String, Path), AuditParams),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = PageSize::of_rooms(params.limit)?.get();
    let room = state
        .chat
        .visible_room(auth.user_id, &room_name(&name)?)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no room named '{name}'")))?;
    let role = state.store.role_in(auth.user_id, room.id).await?;
    if role.is_none_or(|role| role < Role::Admin) {
        return Err(ApiError::Forbidden(
            "only the room's admins and owner read its record".into(),
        ));
    }
    let records = state.store.audit(room.id, params.before, limit + 1).await?;
    let more = records.len() > limit as usize;
    let entries: Vec<AuditEntry> = records
        .into_iter()
        .take(limit as usize)
        .map(|record| AuditEntry {
            id: record.id,
            actor: record.actor,
            action: record.action,
            target: record.target,
            reason: record.reason,
            until: record
                .expires_at
                .map(|until| until.to_rfc3339_opts(SecondsFormat::Millis, true)),
            at: record.created_at,
        })
        .collect();
    let next_before = if more {
        entries.last().map(|entry| entry.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}
