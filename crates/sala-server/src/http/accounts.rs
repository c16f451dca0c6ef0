//! Accounts and sessions (SPEC §2): register, login, logout, validate_token, me, status, and
//! the rooms the caller belongs to.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use sala_proto::api::{
    Account, LoginRequest, LoginResponse, MemberRooms, MyRoomSettings, RegisterRequest,
    StatusRequest, TokenValidity, ValidateTokenRequest,
};
use sala_proto::error::ErrorBody;
use sala_store::{ConflictOn, NewSession, NewUser, StoreError, UserRecord, fold_key};

use super::client_address::client_address;
use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::auth::token::new_session_id;
use crate::domain::{Availability, Email, Password, Username, ValidationError};
use crate::error::ApiError;
use crate::http::AppState;
use crate::wire;

/// Creates an account. It does not log in: the client calls `/api/login` next.
#[utoipa::path(post, path = "/api/register", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, body = Account),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, headers(("Retry-After" = u64)))))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    if let Err(exhausted) = state.register_quota.take(address, Instant::now()) {
        tracing::info!(%address, "registration throttled");
        state.metrics.registrations.throttled.increment(1);
        return Err(ApiError::RateLimited {
            retry_after_secs: exhausted.retry_after.as_secs_f64().ceil() as u64,
        });
    }
    let refused = |err: ApiError| {
        state.metrics.registrations.refused.increment(1);
        err
    };
    let username = Username::parse(&request.username).map_err(|e| refused(e.into()))?;
    let email = request
        .email
        .as_deref()
        .filter(|email| !email.trim().is_empty())
        .map(Email::parse)
        .transpose()
        .map_err(|e| refused(e.into()))?;
    let password = Password::parse(request.password).map_err(|e| refused(e.into()))?;
    // A taken name or email is answered before the costly hash. (Two registrations of one
    // free name at once both hash; the store's uniqueness still refuses the second.)
    if state
        .store
        .find_user_by_username(username.as_ref())
        .await?
        .is_some()
    {
        return Err(refused(StoreError::Conflict(ConflictOn::Username).into()));
    }
    if let Some(email) = &email
        && state
            .store
            .find_user_by_email(email.as_ref())
            .await?
            .is_some()
    {
        return Err(refused(StoreError::Conflict(ConflictOn::Email).into()));
    }
    state.metrics.registrations.hashed.increment(1);
    let password_hash = state
        .passwords
        .hash(password)
        .await
        .map_err(ApiError::Internal)?;
    let user = state
        .store
        .create_user(NewUser {
            username: username.as_ref(),
            email: email.as_ref().map(AsRef::as_ref),
            password_hash: &password_hash,
            created_at: Utc::now(),
        })
        .await?;
    state.metrics.registrations.stored.increment(1);
    tracing::info!(user_id = user.id, username = %user.username, "account registered");
    Ok((StatusCode::CREATED, Json(wire::account(user))))
}

/// Who is trying to log in: the identifier as typed and how to look it up.
enum LoginName {
    Username(String),
    Email(String),
}

impl LoginName {
    fn from_request(request: &LoginRequest) -> Result<Self, ApiError> {
        // No account's name holds a NUL, and no backend can look one up the same way.
        let given = [&request.username, &request.email];
        if given
            .iter()
            .any(|name| name.as_deref().is_some_and(|n| n.contains('\0')))
        {
            return Err(ValidationError::new("username", "must not contain NUL characters").into());
        }
        match (&request.username, &request.email) {
            (Some(name), _) if name.contains('@') => Ok(Self::Email(name.trim().to_owned())),
            (Some(name), _) => Ok(Self::Username(name.trim().to_owned())),
            (None, Some(email)) => Ok(Self::Email(email.trim().to_owned())),
            (None, None) => Err(ApiError::BadRequest("username or email is required".into())),
        }
    }

    /// The throttle key: case-folded, so `Alice` and `alice` share one counter.
    fn throttle_key(&self) -> String {
        match self {
            Self::Username(name) | Self::Email(name) => fold_key(name),
        }
    }

    async fn find(&self, state: &AppState) -> Result<Option<UserRecord>, ApiError> {
        Ok(match self {
            Self::Username(name) => state.store.find_user_by_username(name).await?,
            Self::Email(email) => state.store.find_user_by_email(email).await?,
        })
    }
}

/// Checks the password and opens a session. An unknown user and a wrong password get the
/// same 401 after the same work; repeated failures are throttled (429 + `Retry-After`).
#[utoipa::path(post, path = "/api/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, headers(("Retry-After" = u64)))))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let name = LoginName::from_request(&request)?;
    // Counted under the name as typed (a username or an email), before any work, so that
    // attempts in flight count too (see `auth::throttle`).
    let key = name.throttle_key();
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    if let Err(blocked) = state.throttle.begin(&key, address, Instant::now()) {
        tracing::info!(%address, "login throttled");
        state.metrics.logins_throttled.increment(1);
        return Err(ApiError::RateLimited {
            retry_after_secs: blocked.retry_after.as_secs_f64().ceil() as u64,
        });
    }
    let user = name.find(&state).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let matches = state
        .passwords
        .verify(request.password, stored_hash)
        .await
        .map_err(ApiError::Internal)?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!(%address, "login failed");
        state.metrics.logins_failed.increment(1);
        return Err(ApiError::InvalidCredentials);
    };
    state.throttle.succeeded(&key, address);

    let session_id = new_session_id();
    let now = Utc::now();
    let (token, expires_at) = state
        .tokens
        .issue(user.id, &session_id, now)
        .map_err(ApiError::Internal)?;
    state
        .store
        .create_session(NewSession {
            id: &session_id,
            user_id: user.id,
            created_at: now,
            expires_at,
        })
        .await?;
    tracing::info!(user_id = user.id, "logged in");
    state.metrics.logins_succeeded.increment(1);
    Ok(Json(LoginResponse {
        token,
        token_type: "Bearer".into(),
        expires_at,
        user: wire::user_summary(&user),
        chat_url: chat_url(&state, &headers),
    }))
}

/// The WebSocket URL for clients: from `--public-url`, else from the Host the client used.
fn chat_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(public) = &state.public_url {
        let base = public.trim_end_matches('/');
        let base = base
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .or_else(|| {
                base.strip_prefix("http://")
                    .map(|rest| format!("ws://{rest}"))
            })
            .unwrap_or_else(|| base.to_owned());
        return format!("{base}/ws");
    }
    // Only a plain host[:port] is echoed back; anything else falls back to our address.
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .map_or_else(|| state.local_addr.to_string(), str::to_owned);
    format!("ws://{host}/ws")
}

/// Ends the caller's session: its token stops working at once.
#[utoipa::path(post, path = "/api/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<StatusCode, ApiError> {
    state.chat.end_session(&auth.session_id).await?;
    tracing::info!(user_id = auth.user_id, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

async fn validity(state: &AppState, auth: AuthUser) -> Result<Json<TokenValidity>, ApiError> {
    let user = state
        .store
        .get_user(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(TokenValidity {
        valid: true,
        user: wire::user_summary(&user),
        expires_at: auth.expires_at,
    }))
}

/// Is the bearer token good? For clients checking a stored token.
#[utoipa::path(get, path = "/api/validate_token", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = TokenValidity), (status = 401, body = ErrorBody)))]
pub async fn validate_token(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<TokenValidity>, ApiError> {
    validity(&state, auth).await
}

/// Is this token good? For other servers that hold a user's token.
#[utoipa::path(post, path = "/api/validate_token", tag = "accounts",
    request_body = ValidateTokenRequest,
    responses((status = 200, body = TokenValidity), (status = 401, body = ErrorBody)))]
pub async fn validate_token_in_body(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ValidateTokenRequest>,
) -> Result<Json<TokenValidity>, ApiError> {
    let auth = state.authenticate(&request.token).await?;
    validity(&state, auth).await
}

async fn current_user(state: &AppState, auth: &AuthUser) -> Result<UserRecord, ApiError> {
    state
        .store
        .get_user(auth.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The caller's account, with status.
#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Account>, ApiError> {
    Ok(Json(wire::account(current_user(&state, &auth).await?)))
}

/// Sets the caller's availability (`busy` or `available`) and note.
#[utoipa::path(put, path = "/api/me/status", tag = "accounts", security(("bearer" = [])),
    request_body = StatusRequest,
    responses((status = 200, body = Account), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(request): ApiJson<StatusRequest>,
) -> Result<Json<Account>, ApiError> {
    let availability = Availability::parse(&request.status, request.note.as_deref())?;
    let user = state.chat.change_status(auth.user_id, availability).await?;
    Ok(Json(wire::account(user)))
}

/// The caller's own settings of a room they are a member of: `quiet` (its mentions only).
#[utoipa::path(put, path = "/api/me/rooms/{name}", tag = "accounts", security(("bearer" = [])),
    request_body = MyRoomSettings,
    params(("name" = String, Path, description = "Room name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_my_room(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(name): Path<String>,
    ApiJson(settings): ApiJson<MyRoomSettings>,
) -> Result<StatusCode, ApiError> {
    let room = super::rooms::find_room(&state, &auth, &name).await?;
    match state
        .store
        .set_quiet(auth.user_id, room.id, settings.quiet)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(sala_store::StoreError::NotFound) => Err(ApiError::Forbidden(format!(
            "join the room '{}' first",
            room.name
        ))),
        Err(err) => Err(err.into()),
    }
}

/// The rooms the caller is a member of, with read markers and unread counts.
#[utoipa::path(get, path = "/api/me/rooms", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = MemberRooms), (status = 401, body = ErrorBody)))]
pub async fn my_rooms(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<MemberRooms>, ApiError> {
    let records = state.store.member_rooms(auth.user_id).await?;
    let mut rooms = Vec::with_capacity(records.len());
    for record in records {
        // A DM is shown by its people, looked up for each (one query per DM).
        let people = state.chat.dm_people(&record.room).await?;
        let online = state.chat.online_count(&record.room.name);
        let mut room = wire::member_room(record, online);
        room.room.people = people;
        rooms.push(room);
    }
    Ok(Json(MemberRooms { rooms }))
}
