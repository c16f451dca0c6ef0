//! Invites, kick, ban, mute, roles and the record (issue 18), over HTTP with `/ws` clients
//! watching: each takes effect at once on every connection of the user, and each refusal
//! has its status and code.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of};
use crate::ws_client::WsClient;

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Value) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

async fn ok(response: Response) {
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{}",
        response.text().await.unwrap()
    );
}

/// A room of `owner` with `admin` as its admin and `member` in it.
async fn staffed(app: &TestApp, room: &str, private: bool) -> (String, String, String) {
    let owner = app.user_token(&format!("{room}-owner")).await;
    let admin = app.user_token(&format!("{room}-admin")).await;
    let member = app.user_token(&format!("{room}-member")).await;
    let made = app
        .post_authed(
            "/api/rooms",
            &owner,
            &json!({"name": room, "private": private}),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    for (token, name) in [(&admin, "admin"), (&member, "member")] {
        if private {
            let invite = json!({"username": format!("{room}-{name}")});
            ok(call(
                app,
                "POST",
                &format!("/api/rooms/{room}/invites"),
                &owner,
                invite,
            )
            .await)
            .await;
        }
        WsClient::connect(app, token).await.join(room).await;
    }
    let role = json!({"role": "admin"});
    ok(call(
        app,
        "PUT",
        &format!("/api/rooms/{room}/members/{room}-admin/role"),
        &owner,
        role,
    )
    .await)
    .await;
    (owner, admin, member)
}

#[tokio::test]
async fn an_invite_lets_one_person_into_a_private_room() {
    let app = TestApp::spawn().await;
    let owner = app.user_token("host").await;
    let guest = app.user_token("guest").await;
    let other = app.user_token("other").await;
    let made = app
        .post_authed(
            "/api/rooms",
            &owner,
            &json!({"name": "den", "private": true}),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let mut guest_ws = WsClient::connect(&app, &guest).await;

    ok(call(
        &app,
        "POST",
        "/api/rooms/den/invites",
        &owner,
        json!({"username": "guest"}),
    )
    .await)
    .await;
    let invited = guest_ws.next_of("invited").await;
    assert_eq!(
        (invited["room"]["name"].as_str(), invited["by"].as_str()),
        (Some("den"), Some("host"))
    );
    let invites: Value = app
        .get("/api/me/invites", &guest)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invites["invites"][0]["room"]["name"], "den", "{invites}");
    assert_eq!(invites["invites"][0]["invited_by"], "host");
    assert_eq!(
        app.get("/api/rooms/den", &guest).await.status(),
        StatusCode::OK,
        "an invitee sees it"
    );
    assert_eq!(
        app.get("/api/rooms/den", &other).await.status(),
        StatusCode::NOT_FOUND
    );

    guest_ws.join("den").await;
    let invites: Value = app
        .get("/api/me/invites", &guest)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        invites["invites"].as_array().unwrap().is_empty(),
        "joining used it: {invites}"
    );

    // Another invite, declined: the room is hidden again.
    ok(call(
        &app,
        "POST",
        "/api/rooms/den/invites",
        &owner,
        json!({"username": "other"}),
    )
    .await)
    .await;
    ok(call(&app, "DELETE", "/api/me/invites/den", &other, json!({})).await).await;
    assert_eq!(
        app.get("/api/rooms/den", &other).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        error_of(call(&app, "DELETE", "/api/me/invites/den", &other, json!({})).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
}

#[tokio::test]
async fn a_ban_removes_every_connection_at_once_says_why_and_keeps_the_user_out() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = staffed(&app, "hall", false).await;
    let mut watcher = WsClient::connect(&app, &owner).await;
    watcher.join("hall").await;
    let mut connections = Vec::new();
    for _ in 0..3 {
        let mut ws = WsClient::connect(&app, &member).await;
        ws.join("hall").await;
        connections.push(ws);
    }
    let mut elsewhere = WsClient::connect(&app, &member).await; // not in the room

    let ban = json!({"reason": "spam", "duration_secs": 3600});
    ok(call(&app, "PUT", "/api/rooms/hall/bans/hall-member", &admin, ban).await).await;
    for ws in connections
        .iter_mut()
        .chain(std::iter::once(&mut elsewhere))
    {
        let told = ws.next_of("member").await;
        assert_eq!(
            (
                told["change"].as_str(),
                told["by"].as_str(),
                told["reason"].as_str()
            ),
            (Some("banned"), Some("hall-admin"), Some("spam")),
            "{told}"
        );
        assert!(told["until"].is_string(), "{told}");
    }
    for ws in &mut connections {
        assert_eq!(ws.next_of("left").await["room"], "hall");
    }
    let seen = watcher.next_of("member").await;
    assert_eq!(
        (seen["user"].as_str(), seen["change"].as_str()),
        (Some("hall-member"), Some("banned"))
    );

    // Kept out, told why; the connection stays usable.
    connections[0]
        .send(json!({"type": "join", "room": "hall"}))
        .await;
    let refused = connections[0].next_of("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("spam"),
        "{refused}"
    );
    connections[0].assert_nothing_pending().await;
    let say = json!({"type": "send", "room": "hall", "text": "let me back"});
    connections[1].send(say).await;
    assert_eq!(connections[1].next_of("error").await["code"], "not_member");

    ok(call(
        &app,
        "DELETE",
        "/api/rooms/hall/bans/hall-member",
        &admin,
        json!({}),
    )
    .await)
    .await;
    connections[2].join("hall").await;
}

#[tokio::test]
async fn a_kicked_member_may_rejoin_a_public_room_and_a_muted_one_reads_but_cannot_write() {
    let app = TestApp::spawn().await;
    let (owner, _admin, member) = staffed(&app, "yard", false).await;
    let mut ws = WsClient::connect(&app, &member).await;
    ws.join("yard").await;
    ok(call(
        &app,
        "POST",
        "/api/rooms/yard/kick",
        &owner,
        json!({"username": "yard-member", "reason": "cool off"}),
    )
    .await)
    .await;
    assert_eq!(ws.next_of("member").await["change"], "kicked");
    assert_eq!(ws.next_of("left").await["room"], "yard");
    ws.join("yard").await;
    // Written just before: the mute must end the permit this send left (chat/permits.rs).
    ws.say("yard", "before the mute").await;

    ok(call(
        &app,
        "PUT",
        "/api/rooms/yard/mutes/yard-member",
        &owner,
        json!({}),
    )
    .await)
    .await;
    assert_eq!(ws.next_of("member").await["change"], "muted");
    for frame in [
        json!({"type": "send", "room": "yard", "text": "hello?", "client_id": "m-1"}),
        json!({"type": "typing", "room": "yard"}),
    ] {
        ws.send(frame.clone()).await;
        let refused = ws.next_of("error").await;
        assert_eq!(refused["code"], "forbidden", "{frame}: {refused}");
    }
    let mut owner_ws = WsClient::connect(&app, &owner).await;
    owner_ws.join("yard").await;
    let id = owner_ws.say("yard", "you can still read this").await;
    assert_eq!(ws.next_of("message").await["id"].as_i64(), Some(id));
    // A status note is text too: it is not pushed into the room the user is muted in.
    ws.send(json!({"type": "status", "status": "busy", "note": "buy my stuff"}))
        .await;
    assert_eq!(ws.next_of("status").await["note"], "buy my stuff", "set");
    owner_ws.send(json!({"type": "ping"})).await;
    loop {
        let frame = owner_ws.next_frame().await;
        assert_ne!(frame["type"], "status", "the room heard {frame}");
        if frame["type"] == "pong" {
            break;
        }
    }
    ok(call(
        &app,
        "DELETE",
        "/api/rooms/yard/mutes/yard-member",
        &owner,
        json!({}),
    )
    .await)
    .await;
    assert_eq!(ws.next_of("member").await["change"], "unmuted");
    ws.say("yard", "thanks").await;
    ws.send(json!({"type": "status", "status": "available"}))
        .await;
    let heard = owner_ws.until("status").await;
    assert_eq!(
        (heard["user"].as_str(), heard["status"].as_str()),
        (Some("yard-member"), Some("available")),
        "unmuted, the room hears it again: {heard}"
    );
}

#[tokio::test]
async fn nobody_moderates_upwards_or_themselves_and_each_refusal_is_clear() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = staffed(&app, "keep", true).await;
    let outsider = app.user_token("keep-outsider").await;
    app.user_token("keep-banned").await;
    ok(call(
        &app,
        "PUT",
        "/api/rooms/keep/bans/keep-banned",
        &owner,
        json!({}),
    )
    .await)
    .await;
    let cases: [(&str, &str, &str, Value, StatusCode); 14] = [
        (
            "POST",
            "/api/rooms/keep/kick",
            &member,
            json!({"username": "keep-owner"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "PUT",
            "/api/rooms/keep/bans/keep-owner",
            &admin,
            json!({}),
            StatusCode::FORBIDDEN,
        ),
        (
            "PUT",
            "/api/rooms/keep/bans/keep-admin",
            &admin,
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "PUT",
            "/api/rooms/keep/mutes/keep-owner",
            &owner,
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "PUT",
            "/api/rooms/keep/members/keep-outsider/role",
            &owner,
            json!({"role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "PUT",
            "/api/rooms/keep/members/keep-member/role",
            &owner,
            json!({"role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "PUT",
            "/api/rooms/keep/members/keep-member/role",
            &admin,
            json!({"role": "admin"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "PUT",
            "/api/rooms/keep/members/keep-member/role",
            &owner,
            json!({"role": "boss"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/api/rooms/keep/invites",
            &owner,
            json!({"username": "keep-banned"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/api/rooms/keep/invites",
            &member,
            json!({"username": "keep-outsider"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "POST",
            "/api/rooms/keep/invites",
            &owner,
            json!({"username": "keep-member"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/api/rooms/keep/invites",
            &owner,
            json!({"username": "nobody-at-all"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/api/rooms/keep/kick",
            &outsider,
            json!({"username": "keep-member"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "PUT",
            "/api/rooms/keep/bans/keep-member",
            &admin,
            json!({"duration_secs": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, token, body, status) in cases {
        let (got, _) = error_of(call(&app, method, path, token, body.clone()).await).await;
        assert_eq!(got, status, "{method} {path} {body}");
    }
    // Nothing of that changed anything: the admin is still an admin, the member a member.
    let members: Value = app
        .get("/api/rooms/keep/members", &owner)
        .await
        .json()
        .await
        .unwrap();
    let roles: Vec<(&str, &str)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("keep-admin", "admin"),
            ("keep-member", "member"),
            ("keep-owner", "owner")
        ]
    );

    // The record: for admins and the owner only; newest first.
    let record: Value = app
        .get("/api/rooms/keep/audit", &admin)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = record["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["ban", "make_admin", "invite", "invite"],
        "{record}"
    );
    assert_eq!(record["entries"][0]["actor"], "keep-owner");
    assert_eq!(record["entries"][0]["target"], "keep-banned");
    assert_eq!(
        error_of(app.get("/api/rooms/keep/audit", &member).await).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert_eq!(
        app.get("/api/rooms/keep/audit", &outsider).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_promoted_admin_may_then_kick_and_the_room_hears_of_the_role() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = staffed(&app, "club", false).await;
    let mut member_ws = WsClient::connect(&app, &member).await;
    member_ws.join("club").await;
    let newcomer = app.user_token("club-new").await;
    WsClient::connect(&app, &newcomer).await.join("club").await;
    ok(call(
        &app,
        "PUT",
        "/api/rooms/club/members/club-member/role",
        &owner,
        json!({"role": "admin"}),
    )
    .await)
    .await;
    let told = member_ws.next_of("member").await;
    assert_eq!(
        (told["change"].as_str(), told["role"].as_str()),
        (Some("role_changed"), Some("admin"))
    );
    ok(call(
        &app,
        "POST",
        "/api/rooms/club/kick",
        &member,
        json!({"username": "club-new"}),
    )
    .await)
    .await;
    // An admin cannot act on another admin, and demoted, cannot act at all.
    let (status, _) = error_of(
        call(
            &app,
            "POST",
            "/api/rooms/club/kick",
            &admin,
            json!({"username": "club-member"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    ok(call(
        &app,
        "PUT",
        "/api/rooms/club/members/club-member/role",
        &owner,
        json!({"role": "member"}),
    )
    .await)
    .await;
    let (status, _) = error_of(
        call(
            &app,
            "POST",
            "/api/rooms/club/kick",
            &member,
            json!({"username": "club-admin"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_change_the_topic_and_the_room_hears_it() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = staffed(&app, "plaza", false).await;
    let mut watcher = WsClient::connect(&app, &owner).await;
    watcher.join("plaza").await;
    let changed = call(
        &app,
        "PATCH",
        "/api/rooms/plaza",
        &admin,
        json!({"topic": "Fresh"}),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let room: Value = changed.json().await.unwrap();
    assert_eq!(room["topic"], "Fresh");
    let heard = watcher.next_of("room_updated").await;
    assert_eq!(heard["room"]["topic"], "Fresh", "{heard}");
    let found: Value = app
        .get("/api/rooms?q=fresh", &member)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["rooms"][0]["name"], "plaza", "{found}");

    let cases = [
        (&member, json!({"topic": "mine now"}), StatusCode::FORBIDDEN),
        (
            &admin,
            json!({"topic": "x".repeat(300)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (&admin, json!({"topic": 5}), StatusCode::BAD_REQUEST),
    ];
    for (token, body, status) in cases {
        let (got, _) =
            error_of(call(&app, "PATCH", "/api/rooms/plaza", token, body.clone()).await).await;
        assert_eq!(got, status, "{body}");
    }
    let cleared = call(
        &app,
        "PATCH",
        "/api/rooms/plaza",
        &owner,
        json!({"topic": null}),
    )
    .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let room: Value = app
        .get("/api/rooms/plaza", &member)
        .await
        .json()
        .await
        .unwrap();
    assert!(room["topic"].is_null(), "{room}");
}

#[tokio::test]
async fn the_owner_archives_a_room_and_it_is_gone_for_everyone_at_once() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = staffed(&app, "attic", false).await;
    let mut member_ws = WsClient::connect(&app, &member).await;
    member_ws.join("attic").await;
    let mut elsewhere = WsClient::connect(&app, &member).await; // not in the room

    for token in [&admin, &member] {
        let (status, _) =
            error_of(call(&app, "DELETE", "/api/rooms/attic", token, json!({})).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    ok(call(&app, "DELETE", "/api/rooms/attic", &owner, json!({})).await).await;
    for ws in [&mut member_ws, &mut elsewhere] {
        let removed = ws.next_of("room_removed").await;
        assert_eq!(
            (removed["room"].as_str(), removed["by"].as_str()),
            (Some("attic"), Some("attic-owner"))
        );
    }
    assert_eq!(member_ws.next_of("left").await["room"], "attic");

    assert_eq!(
        app.get("/api/rooms/attic", &owner).await.status(),
        StatusCode::NOT_FOUND
    );
    let listed: Value = app
        .get("/api/rooms?q=attic", &member)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["rooms"].as_array().unwrap().is_empty(), "{listed}");
    let mine: Value = app
        .get("/api/me/rooms", &member)
        .await
        .json()
        .await
        .unwrap();
    assert!(!mine.to_string().contains("attic"), "{mine}");
    member_ws
        .send(json!({"type": "join", "room": "attic"}))
        .await;
    assert_eq!(member_ws.next_of("error").await["code"], "not_found");
    let again = app.create_room(&owner, "attic", None).await;
    assert_eq!(
        error_of(again).await,
        (StatusCode::CONFLICT, "conflict".into()),
        "the name is kept"
    );
    let (status, _) =
        error_of(call(&app, "DELETE", "/api/rooms/attic", &owner, json!({})).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "archived once");
}

#[tokio::test]
async fn a_private_room_may_let_every_member_invite() {
    let app = TestApp::spawn().await;
    let (owner, admin, member) = staffed(&app, "circle", true).await;
    app.user_token("circle-friend").await;
    let invite = json!({"username": "circle-friend"});
    let (status, _) = error_of(
        call(
            &app,
            "POST",
            "/api/rooms/circle/invites",
            &member,
            invite.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not allowed yet");

    let cases = [
        (
            &member,
            "circle",
            json!({"members_invite": true}),
            StatusCode::FORBIDDEN,
        ),
        (&admin, "circle", json!({}), StatusCode::BAD_REQUEST),
        (
            &admin,
            "circle",
            json!({"members_invite": "yes"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (token, room, body, status) in cases {
        let (got, _) = error_of(
            call(
                &app,
                "PATCH",
                &format!("/api/rooms/{room}"),
                token,
                body.clone(),
            )
            .await,
        )
        .await;
        assert_eq!(got, status, "{body}");
    }
    let public = app.create_room(&owner, "square", None).await;
    assert_eq!(public.status(), StatusCode::CREATED);
    let (status, _) = error_of(
        call(
            &app,
            "PATCH",
            "/api/rooms/square",
            &owner,
            json!({"members_invite": true}),
        )
        .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "public rooms need no invites"
    );

    let mut watcher = WsClient::connect(&app, &owner).await;
    watcher.join("circle").await;
    let allowed = call(
        &app,
        "PATCH",
        "/api/rooms/circle",
        &admin,
        json!({"members_invite": true}),
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let room: Value = allowed.json().await.unwrap();
    assert_eq!(room["members_invite"], true);
    assert_eq!(
        watcher.next_of("room_updated").await["room"]["members_invite"],
        true
    );
    // The topic was left as it was (absent), and may be changed alongside.
    assert!(room["topic"].is_null(), "{room}");
    ok(call(&app, "POST", "/api/rooms/circle/invites", &member, invite).await).await;
    let record: Value = app
        .get("/api/rooms/circle/audit", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["entries"][0]["actor"], "circle-member", "{record}");
    // A member still may not kick.
    let (status, _) = error_of(
        call(
            &app,
            "POST",
            "/api/rooms/circle/kick",
            &member,
            json!({"username": "circle-admin"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
