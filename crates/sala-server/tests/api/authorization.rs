//! Who may do what to a room, walked from one table (issue 18): every room-scoped route of
//! the OpenAPI document and every `/ws` command about a room, against every role (owner,
//! admin, member, outsider) and room kind (public, private, DM). A route added without a
//! row here fails `every_room_route_has_a_rule`.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws_client::WsClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Public,
    Private,
    Dm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Admin,
    Member,
    Outsider,
}

/// What a route answers: success, or the status of its refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Forbidden,
    Invalid,
    Hidden,
}

impl Answer {
    fn matches(self, status: StatusCode) -> bool {
        match self {
            Self::Ok => status.is_success(),
            Self::Forbidden => status == StatusCode::FORBIDDEN,
            Self::Invalid => status == StatusCode::UNPROCESSABLE_ENTITY,
            Self::Hidden => status == StatusCode::NOT_FOUND,
        }
    }
}

/// What anyone who may not see the room gets, and what an outsider of a public room gets.
fn unseen(kind: Kind, public_answer: Answer) -> Answer {
    if kind == Kind::Public {
        public_answer
    } else {
        Answer::Hidden
    }
}

/// The rule of each room-scoped route: (method, path as in the OpenAPI document).
fn rule(method: &str, path: &str, kind: Kind, who: Who) -> Option<Answer> {
    use Answer::{Forbidden, Invalid, Ok};
    let staff = matches!(who, Who::Owner | Who::Admin);
    let in_room = who != Who::Outsider;
    let moderate = |staff_answer: Answer| match (kind, who) {
        (Kind::Dm, Who::Outsider) => Answer::Hidden,
        (Kind::Dm, _) => Invalid,
        (_, Who::Outsider) => unseen(kind, Forbidden),
        _ if staff => staff_answer,
        _ => Forbidden,
    };
    let read = if in_room { Ok } else { unseen(kind, Ok) };
    Some(match (method, path) {
        ("get", "/api/rooms/{name}")
        | ("get", "/api/rooms/{name}/messages")
        | ("get", "/api/rooms/{name}/members") => read,
        ("get", "/api/rooms/{name}/audit") => match (kind, who) {
            (_, Who::Outsider) => unseen(kind, Forbidden),
            (Kind::Dm, _) => Forbidden,
            _ if staff => Ok,
            _ => Forbidden,
        },
        ("patch", "/api/rooms/{name}")
        | ("post", "/api/rooms/{name}/invites")
        | ("post", "/api/rooms/{name}/kick")
        | ("put", "/api/rooms/{name}/bans/{username}")
        | ("delete", "/api/rooms/{name}/bans/{username}")
        | ("put", "/api/rooms/{name}/mutes/{username}")
        | ("delete", "/api/rooms/{name}/mutes/{username}") => moderate(Ok),
        ("put", "/api/rooms/{name}/members/{username}/role") => match who {
            Who::Admin if kind != Kind::Dm => Forbidden,
            _ => moderate(Ok),
        },
        // A message of the room's member: its author alone edits it, the staff delete it
        // too, and anyone in the room reacts (and uploads files).
        ("patch", "/api/rooms/{name}/messages/{id}") => match who {
            Who::Member => Ok,
            Who::Outsider => unseen(kind, Forbidden),
            _ => Forbidden,
        },
        ("delete", "/api/rooms/{name}/messages/{id}")
        | ("post", "/api/rooms/{name}/files")
        | ("put", "/api/rooms/{name}/messages/{id}/reactions/{emoji}")
        | ("delete", "/api/rooms/{name}/messages/{id}/reactions/{emoji}") => {
            if in_room {
                Ok
            } else {
                unseen(kind, Forbidden)
            }
        }
        // Archiving: the owner's alone (tried last, as it ends the room).
        ("delete", "/api/rooms/{name}") => match who {
            Who::Admin if kind != Kind::Dm => Forbidden,
            _ => moderate(Ok),
        },
        _ => return None,
    })
}

/// The request each route is tried with: a target who is nobody's business (a stranger),
/// except a role change, which needs a member.
fn request(
    method: &str,
    path: &str,
    room: &str,
    who: Who,
    message: i64,
) -> (reqwest::Method, String, Value) {
    // The role change names someone other than the caller: the member, or for the member
    // the admin.
    let subject = if who == Who::Member {
        "admin"
    } else {
        "member"
    };
    let path = path
        .replace("{name}", room)
        .replace("/members/{username}", &format!("/members/{room}-{subject}"))
        .replace("{username}", "stranger")
        .replace("{id}", &message.to_string())
        .replace("{emoji}", "%F0%9F%91%8D")
        .replace("/files", "/files?name=try.txt");
    let body = match (method, path.rsplit('/').next().unwrap_or_default()) {
        ("patch", last) if last.parse::<i64>().is_ok() => json!({"text": "edited"}),
        ("patch", _) => json!({"topic": "new topic"}),
        (_, "invites" | "kick") => json!({"username": "stranger"}),
        (_, "role") => json!({"role": if who == Who::Member { "admin" } else { "member" }}),
        _ => json!({}),
    };
    (
        reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
        path,
        body,
    )
}

/// The room-scoped routes the server documents.
async fn room_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/rooms/{name}") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

/// A route as the OpenAPI document names it: (method, path).
type Route = (String, String);
/// Who holds a token, in a room of which kind.
type Token = (Who, Kind, String);

/// One room of each kind, with its owner, an admin and a member (a DM: its two people, both
/// members), and tokens for all of them and an outsider.
struct World {
    rooms: Vec<(Kind, String)>,
    tokens: Vec<Token>,
    /// Each room's member, connected and joined, who writes the messages the message
    /// routes are tried on.
    speakers: std::collections::HashMap<String, WsClient>,
}

impl World {
    /// A fresh message by the room's member.
    async fn message_in(&mut self, room: &str) -> i64 {
        let speaker = self.speakers.get_mut(room).expect("a speaker per room");
        speaker
            .send(json!({"type": "send", "room": room, "text": "a message to try"}))
            .await;
        speaker.until("ack").await["id"].as_i64().unwrap()
    }
}

async fn world(app: &TestApp) -> World {
    let outsider = app.user_token("outsider").await;
    app.user_token("stranger").await;
    let mut rooms = Vec::new();
    let mut tokens = Vec::new();
    let mut speakers = std::collections::HashMap::new();
    for (kind, room) in [(Kind::Public, "pub"), (Kind::Private, "priv")] {
        let owner = app.user_token(&format!("{room}-owner")).await;
        let admin = app.user_token(&format!("{room}-admin")).await;
        let member = app.user_token(&format!("{room}-member")).await;
        let made = app
            .post_authed(
                "/api/rooms",
                &owner,
                &json!({"name": room, "private": kind == Kind::Private}),
            )
            .await;
        assert_eq!(made.status(), StatusCode::CREATED);
        for (token, name) in [(&admin, "admin"), (&member, "member")] {
            if kind == Kind::Private {
                let invite = json!({"username": format!("{room}-{name}")});
                let invited = app
                    .post_authed(&format!("/api/rooms/{room}/invites"), &owner, &invite)
                    .await;
                assert_eq!(invited.status(), StatusCode::NO_CONTENT);
            }
            let mut ws = WsClient::connect(app, token).await;
            ws.join(room).await;
            if name == "member" {
                speakers.insert(room.to_owned(), ws);
            }
        }
        let promoted = app
            .client
            .put(app.url(&format!("/api/rooms/{room}/members/{room}-admin/role")))
            .bearer_auth(&owner)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(promoted.status(), StatusCode::NO_CONTENT);
        rooms.push((kind, room.to_owned()));
        tokens.extend([
            (Who::Owner, kind, owner),
            (Who::Admin, kind, admin),
            (Who::Member, kind, member),
        ]);
        tokens.push((Who::Outsider, kind, outsider.clone()));
    }
    let dm_member = app.user_token("dm-member").await;
    app.user_token("dm-other").await;
    let dm: Value = app
        .post_authed("/api/dms", &dm_member, &json!({"users": ["dm-other"]}))
        .await
        .json()
        .await
        .unwrap();
    let dm_name = dm["name"].as_str().unwrap().to_owned();
    let mut ws = WsClient::connect(app, &dm_member).await;
    ws.join(&dm_name).await;
    speakers.insert(dm_name.clone(), ws);
    rooms.push((Kind::Dm, dm_name));
    tokens.push((Who::Member, Kind::Dm, dm_member));
    tokens.push((Who::Outsider, Kind::Dm, outsider));
    World {
        rooms,
        tokens,
        speakers,
    }
}

#[tokio::test]
async fn every_room_route_has_a_rule_and_keeps_it_for_every_role_and_kind() {
    let app = TestApp::spawn().await;
    let routes = room_routes(&app).await;
    let unruled: Vec<_> = routes
        .iter()
        .filter(|(method, path)| rule(method, path, Kind::Public, Who::Member).is_none())
        .collect();
    assert!(
        unruled.is_empty(),
        "routes without a rule in this table: {unruled:?}"
    );
    assert!(routes.len() >= 11, "{routes:?}");

    let mut world = world(&app).await;
    // The archive route ends its room: it goes last, and the owner tries it last.
    let archive = ("delete".to_owned(), "/api/rooms/{name}".to_owned());
    let tokens = world.tokens.clone();
    let mut order: Vec<&Token> = tokens.iter().collect();
    order.sort_by_key(|(who, _, _)| *who == Who::Owner);
    let mut runs: Vec<(&Route, &Token)> = Vec::new();
    for route in routes.iter().filter(|route| **route != archive) {
        runs.extend(tokens.iter().map(|token| (route, token)));
    }
    if let Some(route) = routes.get(&archive) {
        runs.extend(order.iter().map(|token| (route, *token)));
    }
    let rooms = world.rooms.clone();
    for (kind, room) in &rooms {
        for ((method, path), (who, token_kind, token)) in &runs {
            if token_kind != kind {
                continue;
            }
            {
                let expected = rule(method, path, *kind, *who).unwrap();
                let message = if path.contains("{id}") {
                    world.message_in(room).await
                } else {
                    0
                };
                // A DM handle's member path names a member of the DM.
                let (verb, url, body) = request(method, path, room, *who, message);
                let url = if *kind == Kind::Dm {
                    url.replace(&format!("{room}-member"), "dm-other")
                } else {
                    url
                };
                let response = app
                    .client
                    .request(verb, app.url(&url))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                assert!(
                    expected.matches(status),
                    "{method} {url} as {who:?} of a {kind:?} room: expected {expected:?}, got {status} {}",
                    response.text().await.unwrap_or_default()
                );
            }
        }
    }
}

#[tokio::test]
async fn every_room_command_over_ws_keeps_its_rule_for_every_kind() {
    let app = TestApp::spawn().await;
    let world = world(&app).await;
    for (kind, room) in &world.rooms {
        for (who, token_kind, token) in &world.tokens {
            if token_kind != kind || !matches!(who, Who::Member | Who::Outsider) {
                continue;
            }
            let mut ws = WsClient::connect(&app, token).await;
            if *who == Who::Outsider {
                // `read` answers only the user's other connections, so only its refusal
                // can be awaited.
                let read = json!({"type": "read", "room": room, "id": 1});
                ws.send(read).await;
                let refused = ws.next_of("error").await;
                let expected = if *kind == Kind::Public {
                    "not_member"
                } else {
                    "not_found"
                };
                assert_eq!(
                    refused["code"], expected,
                    "read as outsider of a {kind:?} room"
                );
            }
            // In order: an outsider's commands before any join, then the join.
            for (frame, member_gets, public_outsider_gets) in [
                (
                    json!({"type": "send", "room": room, "text": "hi"}),
                    "not_member",
                    "not_member",
                ),
                (
                    json!({"type": "typing", "room": room}),
                    "not_member",
                    "not_member",
                ),
                (
                    json!({"type": "history", "room": room, "before": 1000}),
                    "history",
                    "history",
                ),
                (
                    json!({"type": "edit", "room": room, "id": 1, "text": "x"}),
                    "not_member",
                    "not_member",
                ),
                (
                    json!({"type": "delete", "room": room, "id": 1}),
                    "not_member",
                    "not_member",
                ),
                (
                    json!({"type": "react", "room": room, "id": 1, "emoji": "👍"}),
                    "not_member",
                    "not_member",
                ),
                (
                    json!({"type": "unreact", "room": room, "id": 1, "emoji": "👍"}),
                    "not_member",
                    "not_member",
                ),
                (json!({"type": "join", "room": room}), "joined", "joined"),
            ] {
                let expected = match (who, kind) {
                    (Who::Outsider, Kind::Public) => public_outsider_gets,
                    (Who::Outsider, _) => "not_found",
                    _ => member_gets,
                };
                ws.send(frame.clone()).await;
                let mut reply = ws.next_frame().await;
                while reply["type"] == "presence" || reply["type"] == "member" {
                    reply = ws.next_frame().await;
                }
                let got = if reply["type"] == "error" {
                    reply["code"].clone()
                } else {
                    reply["type"].clone()
                };
                assert_eq!(
                    got, expected,
                    "{frame} as {who:?} of a {kind:?} room: {reply}"
                );
            }
        }
    }
}
