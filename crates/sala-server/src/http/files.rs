//! Files over HTTP (issue 21): uploads, downloads, and the cookie that lets `<img>` tags
//! download without a token in the URL. What is done with an upload's bytes is
//! [`crate::files`]'s; this module checks who may, and serves the bytes safely.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/rooms/{name}/files?name=NAME` | upload (the body is the file's bytes) |
//! | `GET /api/files/{id}` | download, members of its room only |
//! | `GET /api/files/{id}/thumbnail` | a picture's thumbnail |
//! | `POST` / `DELETE /api/files/cookie` | set or clear the download cookie |
//!
//! A download of a file one may not read answers exactly as one of a file that does not
//! exist. Every file is served with `nosniff`, a `sandbox` content security policy (an
//! HTML or SVG file opened anyway runs no script on Sala's origin and reads none of its
//! storage), and as an attachment unless it is a PNG, JPEG or GIF.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sala_proto::api::UploadedFile;
use sala_proto::error::ErrorBody;
use sala_store::{FileRecord, Restriction};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::bearer_token;
use super::extract::ApiQuery;
use super::rooms::find_room;
use crate::auth::AuthUser;
use crate::domain::{FileName, is_file_id};
use crate::error::ApiError;
use crate::files::{Upload, UploadError};
use crate::http::AppState;
use crate::wire;

/// The cookie that carries the login token to downloads, and only to them.
pub const FILE_COOKIE: &str = "sala_files";
const COOKIE_PATH: &str = "/api/files";

/// What a file response's content may do: nothing (no script, no plugin, no form, an
/// opaque origin), styles inline only so a browser's own viewers still render.
const FILE_CONTENT_SECURITY_POLICY: &str = "sandbox; default-src 'none'; img-src 'self'; \
     style-src 'unsafe-inline'";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name (its last path part is kept): 1–255 bytes, no control characters.
    name: String,
}

/// Uploads a file to a room the caller is a member of. The body is the file's bytes, sent
/// as they are (any `Content-Type`; the stored type is read from the bytes). At most
/// `--max-upload-bytes` (25 MiB by default; 413 as soon as the body passes it, nothing
/// kept), within the caller's daily quota (429), at least 16 KiB every
/// `--upload-window-secs` (408). A picture (PNG, JPEG, GIF) loses its metadata (EXIF:
/// where it was taken), gets its size and a thumbnail; one over 12,000 pixels a side or
/// 50 megapixels, or that cannot be read, is refused (422). Send the answer's `id` in a
/// message's `attachments` within 24 hours, or the file is deleted.
#[utoipa::path(post, path = "/api/rooms/{name}/files", tag = "files",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Room name"), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The file's bytes"),
    responses((status = 201, body = UploadedFile), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not a member, or muted"),
        (status = 404, body = ErrorBody), (status = 408, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room): Path<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadedFile>), ApiError> {
    let name = FileName::parse(&params.name)?;
    let room = find_room(&state, &auth, &room).await?;
    if state.store.role_in(auth.user_id, room.id).await?.is_none() {
        return Err(ApiError::Forbidden(format!(
            "join the room '{}' first",
            room.name
        )));
    }
    if let Some(mute) = state
        .store
        .restriction(room.id, auth.user_id, Restriction::Mute, Utc::now())
        .await?
    {
        let until = mute
            .expires_at
            .map_or_else(|| "until unmuted".to_owned(), |at| format!("until {at}"));
        return Err(ApiError::Forbidden(format!(
            "you are muted in this room {until}"
        )));
    }
    let limit = state.files.limits().max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        // Refused before a byte is read.
        return Err(ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        });
    }
    let file = state
        .files
        .upload(Upload {
            room_id: room.id,
            uploader_id: auth.user_id,
            name,
            body: body.into_data_stream(),
        })
        .await
        .map_err(|err| upload_error(err, &auth))?;
    tracing::info!(file = %file.id, room = %room.name, user_id = auth.user_id, size = file.size,
        content_type = %file.content_type, "file uploaded");
    Ok((
        StatusCode::CREATED,
        Json(UploadedFile {
            attachment: wire::attachment(file.attachment()),
        }),
    ))
}

fn upload_error(err: UploadError, auth: &AuthUser) -> ApiError {
    match err {
        UploadError::TooLarge { limit } => ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
        UploadError::QuotaExceeded { .. } => ApiError::QuotaExceeded(err.to_string()),
        UploadError::TooSlow { .. } => {
            tracing::info!(
                user_id = auth.user_id,
                "an upload came too slowly and was cut off"
            );
            ApiError::Timeout(err.to_string())
        }
        UploadError::Interrupted(_) => ApiError::BadRequest(err.to_string()),
        UploadError::Picture(crate::files::pictures::PictureError::Io(io)) => {
            ApiError::internal(io)
        }
        UploadError::Picture(picture) => ApiError::Refused(picture.to_string()),
        UploadError::Store(store) => store.into(),
        UploadError::Storage(io) => {
            ApiError::Unavailable(anyhow::Error::new(io).context("storing an uploaded file"))
        }
    }
}

/// Who reads a file: the bearer token, or the download cookie (for `<img>` tags).
pub struct FileReader(AuthUser);

impl<S> FromRequestParts<S> for FileReader
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .or_else(|| cookie(&parts.headers, FILE_COOKIE))
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self(AppState::from_ref(state).authenticate(token).await?))
    }
}

/// The value of the cookie `name`, if the request carries it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The file, if `reader` may read it: a member of its room. Anything else is the same
/// 404 as for an id nobody uses.
async fn readable(state: &AppState, reader: &AuthUser, id: &str) -> Result<FileRecord, ApiError> {
    let not_found = || ApiError::NotFound("no such file".into());
    if !is_file_id(id) {
        return Err(not_found());
    }
    let file = state.store.file(id).await?.ok_or_else(not_found)?;
    if state
        .store
        .role_in(reader.user_id, file.room_id)
        .await?
        .is_none()
    {
        return Err(not_found());
    }
    Ok(file)
}

/// Downloads a file, for members of its room (with a bearer token or the download
/// cookie). PNG, JPEG and GIF are served inline, anything else as an attachment; always
/// with `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`.
#[utoipa::path(get, path = "/api/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "File id")),
    responses((status = 200, description = "the file's bytes"),
        (status = 304, description = "If-None-Match named its ETag: the bytes are unchanged"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such file, or not yours to read")))]
pub async fn download(
    State(state): State<AppState>,
    FileReader(reader): FileReader,
    Path(id): Path<String>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let file = readable(&state, &reader, &id).await?;
    let inline = matches!(
        file.content_type.as_str(),
        "image/png" | "image/jpeg" | "image/gif"
    );
    serve(
        &state,
        &request,
        &file.blob,
        &file.content_type,
        &file.name,
        inline,
        Some(file.size),
    )
    .await
}

/// A picture's thumbnail (at most 320 pixels a side), for members of its room.
#[utoipa::path(get, path = "/api/files/{id}/thumbnail", tag = "files",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "File id")),
    responses((status = 200, description = "a PNG or JPEG"),
        (status = 304, description = "If-None-Match named its ETag"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn thumbnail(
    State(state): State<AppState>,
    FileReader(reader): FileReader,
    Path(id): Path<String>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let file = readable(&state, &reader, &id).await?;
    let blob = file
        .thumbnail_blob
        .as_deref()
        .ok_or_else(|| ApiError::NotFound("this file has no thumbnail".into()))?;
    let content_type = if file.content_type == "image/jpeg" {
        "image/jpeg"
    } else {
        "image/png"
    };
    serve(&state, &request, blob, content_type, &file.name, true, None).await
}

/// How a browser may keep a file: for its user only, and asking again at every use, so a
/// file deleted with its message is gone from the page too (the question is answered 404;
/// a file still there is answered 304, without its bytes).
const FILE_CACHE_CONTROL: &str = "private, no-cache";

/// Serves the bytes of `blob`, or 304 when the request's `If-None-Match` names them
/// already: a blob's key is the hash of its bytes, so it is their tag.
async fn serve(
    state: &AppState,
    request: &HeaderMap,
    blob: &str,
    content_type: &str,
    name: &str,
    inline: bool,
    size: Option<u64>,
) -> Result<Response, ApiError> {
    let tag = format!("\"{blob}\"");
    if names_tag(request, &tag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(&tag).map_err(ApiError::internal)?,
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(FILE_CACHE_CONTROL),
        );
        return Ok(response);
    }
    let bytes = state.files.read(blob).await.map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            ApiError::internal(anyhow::anyhow!("the bytes of blob {blob} are missing"))
        } else {
            ApiError::Unavailable(anyhow::Error::new(err).context("reading a file"))
        }
    })?;
    let mut response = Body::from_stream(bytes).into_response();
    let headers = response.headers_mut();
    let value = |text: &str| {
        HeaderValue::from_str(text).map_err(|err| ApiError::internal(anyhow::Error::new(err)))
    };
    headers.insert(header::CONTENT_TYPE, value(content_type)?);
    if let Some(size) = size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    headers.insert(
        header::CONTENT_DISPOSITION,
        value(&disposition(inline, name))?,
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(FILE_CACHE_CONTROL),
    );
    headers.insert(header::ETAG, value(&tag)?);
    Ok(response)
}

/// Whether `If-None-Match` lists `tag` (weak or strong, RFC 9110 §13.1.2) or is `*`.
fn names_tag(request: &HeaderMap, tag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .any(|listed| listed == "*" || listed.trim_start_matches("W/") == tag)
}

/// `Content-Disposition` with the name twice: plain ASCII for old clients, and exactly
/// as uploaded (RFC 5987 percent-encoding) for the rest.
fn disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

/// Sets the download cookie: the caller's token, sent by the browser to `/api/files`
/// only (`HttpOnly`, `SameSite=Strict`), for as long as the token lives. A page calls it
/// once after logging in; `<img src="/api/files/…">` then works without a token in the URL.
#[utoipa::path(post, path = "/api/files/cookie", tag = "files", security(("bearer" = [])),
    responses((status = 204, description = "the cookie is set"),
        (status = 401, body = ErrorBody)))]
pub async fn set_cookie(
    State(state): State<AppState>,
    headers: HeaderMap,
    auth: AuthUser,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers).ok_or(ApiError::Unauthorized)?;
    let lifetime = (auth.expires_at - Utc::now()).num_seconds().max(0);
    let secure = state
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let cookie = format!(
        "{FILE_COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={lifetime}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    cookie_response(&cookie)
}

/// Clears the download cookie (logging out revokes the token it holds anyway).
#[utoipa::path(delete, path = "/api/files/cookie", tag = "files",
    responses((status = 204, description = "the cookie is cleared")))]
pub async fn clear_cookie() -> Result<Response, ApiError> {
    cookie_response(&format!(
        "{FILE_COOKIE}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict"
    ))
}

fn cookie_response(cookie: &str) -> Result<Response, ApiError> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(cookie).map_err(|err| ApiError::internal(anyhow::Error::new(err)))?,
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn a_name_is_quoted_safely_both_ways() {
        assert_eq!(
            disposition(false, "a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        assert_eq!(
            disposition(true, "日.png"),
            "inline; filename=\"_.png\"; filename*=UTF-8''%E6%97%A5.png"
        );
    }
}
