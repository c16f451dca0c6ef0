//! Search over HTTP (issue 21): `GET /api/search`. What a query means is
//! [`SearchQuery`]'s; which messages a reader may find is the store's rule (the rooms they
//! are a member of, never a deleted message). This module reads the request, asks the
//! store, and marks where each hit matched.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use sala_proto::api::{SearchHit, SearchPage};
use sala_proto::error::ErrorBody;
use sala_store::MessageSearch;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::ApiQuery;
use crate::auth::AuthUser;
use crate::domain::{PageSize, RoomName, SearchQuery, SearchTerm, Username, ValidationError};
use crate::error::ApiError;
use crate::http::AppState;
use crate::wire;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to find: words and "quoted phrases", each found anywhere in a message's text,
    /// case-insensitively, and the filters `from:NAME`, `in:#ROOM`, `has:file`. At most
    /// 1,000 characters and 32 words or phrases.
    q: Option<String>,
    /// Only this room (as `in:`).
    room: Option<String>,
    /// Only messages by this user (as `from:`).
    from: Option<String>,
    /// Only messages sent before this moment (RFC 3339).
    before: Option<DateTime<Utc>>,
    /// Only messages sent after this moment (RFC 3339).
    after: Option<DateTime<Utc>>,
    /// The `next_cursor` of the page before.
    cursor: Option<i64>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

/// Messages the caller can read that match, newest first: the rooms they are a member
/// of (public, private, DMs), never another's. Each hit has its room and id, to open it
/// in context with `GET /api/rooms/{name}/messages?around=ID`, and where it matched.
#[utoipa::path(get, path = "/api/search", tag = "messages",
    security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    let limit = PageSize::of_messages(params.limit)?.get();
    let q = params.q.as_deref().unwrap_or_default();
    if q.trim().is_empty() && params.room.is_none() && params.from.is_none() {
        return Err(ApiError::BadRequest(
            "give q (words, \"phrases\", from:, in:, has:file), room or from".into(),
        ));
    }
    let query = if q.trim().is_empty() {
        None
    } else {
        Some(SearchQuery::parse(q)?)
    };
    let room = one_of(
        params.room.as_deref().map(RoomName::parse).transpose()?,
        query.as_ref().and_then(SearchQuery::room).cloned(),
        "room",
    )?;
    let author = one_of(
        params.from.as_deref().map(Username::parse).transpose()?,
        query.as_ref().and_then(SearchQuery::from).cloned(),
        "from",
    )?;
    let terms = query.as_ref().map(SearchQuery::terms).unwrap_or_default();
    let texts: Vec<&str> = terms.iter().map(SearchTerm::text).collect();
    let mut found = state
        .store
        .search_messages(MessageSearch {
            reader_id: auth.user_id,
            texts: &texts,
            author: author.as_ref().map(AsRef::as_ref),
            room: room.as_ref().map(AsRef::as_ref),
            after: params.after,
            before: params.before,
            older_than: params.cursor,
            with_files: query.as_ref().is_some_and(SearchQuery::has_file),
            limit: limit + 1,
        })
        .await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next_cursor = more.then(|| found.last().map(|m| m.id)).flatten();
    let hits = found
        .into_iter()
        .map(|record| {
            let highlights = highlights(&record.text, &texts);
            SearchHit {
                message: wire::message(record),
                highlights,
            }
        })
        .collect();
    Ok(Json(SearchPage { hits, next_cursor }))
}

/// The value given as a parameter or in the query, or refused when both are given and
/// differ (nothing could match both).
fn one_of<T: PartialEq>(
    parameter: Option<T>,
    in_query: Option<T>,
    field: &'static str,
) -> Result<Option<T>, ValidationError> {
    match (parameter, in_query) {
        (Some(a), Some(b)) if a != b => Err(ValidationError::new(
            field,
            "is given twice, with two values",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// Where each text occurs in `text`, case-insensitively: `[start, end)` ranges counted in
/// Unicode code points (what `Array.from(text)` and Rust's `chars()` count), sorted, and
/// overlapping ones merged.
pub fn highlights(text: &str, texts: &[&str]) -> Vec<[usize; 2]> {
    // Each lower-cased char with the index of the char it came from (one char may lower
    // into several).
    let folded: Vec<(char, usize)> = text
        .chars()
        .enumerate()
        .flat_map(|(at, c)| c.to_lowercase().map(move |lower| (lower, at)))
        .collect();
    let mut ranges = Vec::new();
    for needle in texts {
        let needle: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
        for end in occurrence_ends(&folded, &needle) {
            let start = end + 1 - needle.len();
            ranges.push([folded[start].1, folded[end].1 + 1]);
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<[usize; 2]> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range[0] <= last[1] => last[1] = last[1].max(range[1]),
            _ => merged.push(range),
        }
    }
    merged
}

/// Where every occurrence of `needle` in `folded` ends, overlapping ones too, in one pass
/// (Knuth–Morris–Pratt): a hostile search of long, repetitive texts costs the length of
/// the texts, not their product with the needle's.
fn occurrence_ends(folded: &[(char, usize)], needle: &[char]) -> Vec<usize> {
    if needle.is_empty() {
        return Vec::new();
    }
    // fallback[i]: the length of the longest proper prefix of needle[..=i] that is also
    // its suffix.
    let mut fallback = vec![0; needle.len()];
    let mut matched = 0;
    for i in 1..needle.len() {
        while matched > 0 && needle[i] != needle[matched] {
            matched = fallback[matched - 1];
        }
        if needle[i] == needle[matched] {
            matched += 1;
        }
        fallback[i] = matched;
    }
    let mut ends = Vec::new();
    matched = 0;
    for (at, (c, _)) in folded.iter().enumerate() {
        while matched > 0 && *c != needle[matched] {
            matched = fallback[matched - 1];
        }
        if *c == needle[matched] {
            matched += 1;
        }
        if matched == needle.len() {
            ends.push(at);
            matched = fallback[matched - 1];
        }
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::highlights;

    #[test]
    fn matches_are_marked_in_code_points_case_insensitively_and_merged() {
        assert_eq!(highlights("Deploy the RELEASE", &["release"]), [[11, 18]]);
        assert_eq!(highlights("東京タワー", &["タワー"]), [[2, 5]]);
        assert_eq!(highlights("aaaa", &["aa"]), [[0, 4]]);
        assert_eq!(highlights("x 🎉 party", &["party", "x"]), [[0, 1], [4, 9]]);
        assert!(highlights("nothing", &["else"]).is_empty());
        // A char that lowers into two still counts as one.
        assert_eq!(highlights("İstanbul", &["stan"]), [[1, 5]]);
    }
}
