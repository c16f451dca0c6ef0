//! Private rooms, direct messages, finding people and blocks (issue 18), over HTTP and
//! `/ws`: an outsider is answered as for a room nobody made, everywhere.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of};
use crate::ws_client::WsClient;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

async fn put(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

/// What `/ws` answers a command about a room: the `error` frame's code, or the reply type.
async fn ws_answer(ws: &mut WsClient, frame: Value) -> String {
    ws.send(frame).await;
    let reply = ws.next_frame().await;
    match reply["type"].as_str() {
        Some("error") => reply["code"].as_str().unwrap_or_default().to_owned(),
        other => other.unwrap_or_default().to_owned(),
    }
}

#[tokio::test]
async fn a_private_room_does_not_exist_for_outsiders() {
    let app = TestApp::spawn().await;
    let owner = app.user_token("keeper").await;
    let outsider = app.user_token("nosy").await;
    let created = app
        .post_authed(
            "/api/rooms",
            &owner,
            &json!({"name": "vault", "topic": "secret plans", "private": true}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let room = json_of(created).await;
    assert_eq!(room["kind"], "private", "{room}");

    // The owner sees it, as owner.
    assert_eq!(app.get("/api/rooms/vault", &owner).await.status(), 200);
    let mine = json_of(app.get("/api/me/rooms", &owner).await).await;
    let vault = mine["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|room| room["name"] == "vault")
        .cloned()
        .expect("the owner's rooms list it");
    assert_eq!(
        (vault["kind"].as_str(), vault["role"].as_str()),
        (Some("private"), Some("owner"))
    );
    let listed = json_of(app.get("/api/rooms?q=secret", &owner).await).await;
    assert_eq!(listed["rooms"].as_array().unwrap().len(), 1, "{listed}");

    // To the outsider, every answer is the one for a name nobody uses.
    for path in ["/api/rooms/vault", "/api/rooms/vault/messages"] {
        let nobody = path.replace("vault", "nowhere");
        assert_eq!(
            error_of(app.get(path, &outsider).await).await,
            error_of(app.get(&nobody, &outsider).await).await,
            "{path}"
        );
        assert_eq!(
            app.get(path, &outsider).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    for q in ["vault", "secret", "plans"] {
        let listed = json_of(app.get(&format!("/api/rooms?q={q}"), &outsider).await).await;
        assert!(
            listed["rooms"].as_array().unwrap().is_empty(),
            "q={q}: {listed}"
        );
    }
    let mut ws = WsClient::connect(&app, &outsider).await;
    for frame in [
        json!({"type": "join", "room": "vault"}),
        json!({"type": "send", "room": "vault", "text": "let me in", "client_id": "c1"}),
        json!({"type": "history", "room": "vault", "before": 100}),
        json!({"type": "typing", "room": "vault"}),
        json!({"type": "read", "room": "vault", "id": 1}),
    ] {
        let kind = frame["type"].clone();
        assert_eq!(ws_answer(&mut ws, frame).await, "not_found", "{kind}");
    }
    // The connection stays usable.
    ws.assert_nothing_pending().await;

    // The owner joins and talks as in any room.
    let mut keeper = WsClient::connect(&app, &owner).await;
    keeper.join("vault").await;
    keeper.say("vault", "only us here").await;
}

#[tokio::test]
async fn a_room_may_not_take_a_dm_handle() {
    let app = TestApp::spawn().await;
    let token = app.user_token("namer").await;
    let response = app.create_room(&token, "dm.abcdef", None).await;
    assert_eq!(
        error_of(response).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into())
    );
}

#[tokio::test]
async fn the_same_people_get_one_dm_that_appears_live_and_nobody_else_can_reach() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let carol = app.user_token("carol").await;
    let mut bob_ws = WsClient::connect(&app, &bob).await;

    let opened = app
        .post_authed("/api/dms", &alice, &json!({"users": ["Bob"]}))
        .await;
    assert_eq!(opened.status(), StatusCode::CREATED);
    let dm = json_of(opened).await;
    assert_eq!(dm["kind"], "dm");
    assert_eq!(dm["people"], json!(["alice", "bob"]));
    let name = dm["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("dm.") && name.len() > 30,
        "unguessable: {name}"
    );

    // Bob hears of it on his open connection, and it is in his rooms.
    let added = bob_ws.next_of("room_added").await;
    assert_eq!(added["room"]["name"], name.as_str(), "{added}");
    assert_eq!(added["room"]["people"], json!(["alice", "bob"]));
    let bobs = json_of(app.get("/api/me/rooms", &bob).await).await;
    assert!(
        bobs["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|room| room["name"] == name.as_str()),
        "{bobs}"
    );

    // The same pair, either way round: the same conversation, 200 not 201.
    let again = app
        .post_authed("/api/dms", &bob, &json!({"users": ["alice", "alice"]}))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json_of(again).await["name"], name.as_str());

    // They talk over /ws like in any room.
    bob_ws.join(&name).await;
    let mut alice_ws = WsClient::connect(&app, &alice).await;
    alice_ws.join(&name).await;
    let id = alice_ws.say(&name, "hi bob").await;
    let heard = bob_ws.next_of("message").await;
    assert_eq!(
        (heard["id"].as_i64(), heard["text"].as_str()),
        (Some(id), Some("hi bob"))
    );

    // Carol cannot read, find, join or write to it, nor to a guessed handle.
    let guessed = "dm.0123456789abcdef0123456789abcdef";
    for room in [name.as_str(), guessed] {
        assert_eq!(
            app.get(&format!("/api/rooms/{room}"), &carol)
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get(&format!("/api/rooms/{room}/messages"), &carol)
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
    let listed = json_of(app.get("/api/rooms?q=dm", &carol).await).await;
    assert!(listed["rooms"].as_array().unwrap().is_empty(), "{listed}");
    let mut carol_ws = WsClient::connect(&app, &carol).await;
    assert_eq!(
        ws_answer(&mut carol_ws, json!({"type": "join", "room": name})).await,
        "not_found"
    );
    assert_eq!(
        ws_answer(
            &mut carol_ws,
            json!({"type": "send", "room": name, "text": "psst"})
        )
        .await,
        "not_found"
    );
}

#[tokio::test]
async fn a_dm_needs_one_to_eight_known_others() {
    let app = TestApp::spawn().await;
    let me = app.user_token("opener").await;
    let mut others = Vec::new();
    for n in 0..9 {
        let name = format!("friend{n}");
        app.user_token(&name).await;
        others.push(name);
    }
    let cases = [
        (
            json!({"users": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"users": ["opener"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"users": ["friend0", "OPENER"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"users": others}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"users": ["friend0", "ghost"]}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"users": "friend0"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (body, status, code) in cases {
        let response = app.post_authed("/api/dms", &me, &body).await;
        assert_eq!(error_of(response).await, (status, code.into()), "{body}");
    }
    // Eight others is the most, and fine.
    let eight = &others[..8];
    let response = app
        .post_authed("/api/dms", &me, &json!({"users": eight}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        json_of(response).await["people"].as_array().unwrap().len(),
        9
    );
}

#[tokio::test]
async fn a_blocked_user_cannot_open_a_dm_or_write_into_one() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let pest = app.user_token("pest").await;
    let dm = json_of(
        app.post_authed("/api/dms", &pest, &json!({"users": ["ann"]}))
            .await,
    )
    .await;
    let name = dm["name"].as_str().unwrap().to_owned();
    let mut ws = WsClient::connect(&app, &pest).await;
    ws.join(&name).await;
    ws.say(&name, "before the block").await;

    assert_eq!(
        put(&app, "/api/me/blocks/PEST", &ann).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(&app, "/api/me/blocks/pest", &ann).await.status(),
        StatusCode::NO_CONTENT
    );
    let blocks = json_of(app.get("/api/me/blocks", &ann).await).await;
    assert_eq!(blocks["users"][0]["username"], "pest", "{blocks}");
    assert_eq!(
        blocks["users"].as_array().unwrap().len(),
        1,
        "once: {blocks}"
    );
    let theirs = json_of(app.get("/api/me/blocks", &pest).await).await;
    assert_eq!(
        theirs["users"],
        json!([]),
        "a block is the blocker's: {theirs}"
    );
    ws.send(json!({"type": "send", "room": name, "text": "hello?", "client_id": "b-1"}))
        .await;
    let refused = ws.next_frame().await;
    assert_eq!(
        (
            refused["type"].as_str(),
            refused["code"].as_str(),
            refused["client_id"].as_str()
        ),
        (Some("error"), Some("forbidden"), Some("b-1")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not delivered"),
        "{refused}"
    );
    let (status, code) = error_of(
        app.post_authed("/api/dms", &pest, &json!({"users": ["ann"]}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    // Nothing of the refused message was stored.
    let history = json_of(app.get(&format!("/api/rooms/{name}/messages"), &ann).await).await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["before the block"]);

    // Ann may still write to the pest, and lifting the block lets the pest answer.
    let mut ann_ws = WsClient::connect(&app, &ann).await;
    ann_ws.join(&name).await;
    ann_ws.say(&name, "stop it").await;
    assert_eq!(
        delete(&app, "/api/me/blocks/pest", &ann).await.status(),
        StatusCode::NO_CONTENT
    );
    let heard = ws.next_of("message").await;
    assert_eq!(heard["text"], "stop it", "a block is one way: {heard}");
    let blocks = json_of(app.get("/api/me/blocks", &ann).await).await;
    assert_eq!(blocks["users"], json!([]), "lifted: {blocks}");
    ws.say(&name, "sorry").await;

    // Blocking nobody, or oneself, is refused.
    assert_eq!(
        error_of(put(&app, "/api/me/blocks/nobody-here", &ann).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    assert_eq!(
        error_of(put(&app, "/api/me/blocks/ann", &ann).await).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid".into())
    );
}

#[tokio::test]
async fn people_are_found_by_the_start_of_their_name_without_emails() {
    let app = TestApp::spawn().await;
    let token = app.user_token("finder").await;
    let registered = app
        .post_json(
            "/api/register",
            &json!({"username": "Dana", "password": crate::helpers::PASSWORD, "email": "dana@example.org"}),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    for name in ["daniel", "dave", "xdan"] {
        app.user_token(name).await;
    }
    let first = json_of(app.get("/api/users?q=DA&limit=2", &token).await).await;
    assert_eq!(first["users"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["users"][0]["username"], "Dana");
    assert!(
        !first.to_string().contains("example.org"),
        "no emails: {first}"
    );
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = json_of(
        app.get(&format!("/api/users?q=da&limit=2&cursor={cursor}"), &token)
            .await,
    )
    .await;
    assert_eq!(rest["users"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["users"][0]["username"], "dave");
    assert!(rest["next_cursor"].is_null());
    for bad in [
        "/api/users?q=",
        "/api/users",
        "/api/users?q=da&limit=0",
        "/api/users?q=da&cursor=%%%",
    ] {
        let (status, _) = error_of(app.get(bad, &token).await).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status}"
        );
    }
    assert_eq!(
        app.client
            .get(app.url("/api/users?q=da"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn members_are_listed_with_role_and_status_for_those_who_may_see_the_room() {
    let app = TestApp::spawn().await;
    let owner = app.user_token("host").await;
    let guest = app.user_token("guest").await;
    let outsider = app.user_token("outside").await;
    assert_eq!(app.create_room(&owner, "club", None).await.status(), 201);
    let mut ws = WsClient::connect(&app, &guest).await;
    ws.join("club").await;
    let busy = app
        .client
        .put(app.url("/api/me/status"))
        .bearer_auth(&guest)
        .json(&json!({"status": "busy", "note": "lunch"}))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 200);

    let first = json_of(app.get("/api/rooms/club/members?limit=1", &outsider).await).await;
    assert_eq!(
        first["members"],
        json!([{"username": "guest", "role": "member", "status": "busy", "status_note": "lunch"}])
    );
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let rest = json_of(
        app.get(
            &format!("/api/rooms/club/members?limit=1&cursor={cursor}"),
            &outsider,
        )
        .await,
    )
    .await;
    assert_eq!(rest["members"][0]["username"], "host");
    assert_eq!(rest["members"][0]["role"], "owner");
    assert!(rest["next_cursor"].is_null());

    // A private room's members are for its members only.
    let made = app
        .post_authed(
            "/api/rooms",
            &owner,
            &json!({"name": "inner", "private": true}),
        )
        .await;
    assert_eq!(made.status(), 201);
    assert_eq!(
        error_of(app.get("/api/rooms/inner/members", &outsider).await).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let inner = json_of(app.get("/api/rooms/inner/members", &owner).await).await;
    assert_eq!(inner["members"].as_array().unwrap().len(), 1, "{inner}");
}

#[tokio::test]
async fn a_dm_with_a_deleted_user_is_answered_as_for_a_name_nobody_has() {
    let app = TestApp::spawn().await;
    let me = app.user_token("stayer").await;
    app.user_token("leaver").await;
    // No route deletes accounts; an operator removing the row is what a deleted user is.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(app.data_dir().join("sala.db"))
        .foreign_keys(true);
    let mut connection = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let deleted = sqlx::query("DELETE FROM users WHERE username = 'leaver'")
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    drop(connection);

    let deleted = error_of(
        app.post_authed("/api/dms", &me, &json!({"users": ["leaver"]}))
            .await,
    )
    .await;
    let never = error_of(
        app.post_authed("/api/dms", &me, &json!({"users": ["never-was"]}))
            .await,
    )
    .await;
    assert_eq!(deleted.0, StatusCode::NOT_FOUND);
    assert_eq!((deleted.0, deleted.1.as_str()), (never.0, never.1.as_str()));
    let blocked = error_of(put(&app, "/api/me/blocks/leaver", &me).await).await;
    assert_eq!(blocked, (StatusCode::NOT_FOUND, "not_found".into()));
}
