//! The behaviour every backend must show, as test functions over `&dyn Store`.
//!
//! A backend's test suite runs each of these against a fresh database of its own (see
//! `sala-store-sqlite/tests/contract.rs`), so SQLite and PostgreSQL are held to the same
//! contract. Each function uses names of its own, so they also hold on a shared database.

use chrono::{DateTime, Duration, Utc};

use crate::{
    BusyMember, ChangeKind, ConflictOn, MessageChange, MessageQuery, MessageRecord, MessageSearch,
    MessageWrite, MessageWritten, Moderation, ModerationAction, NewDm, NewFile, NewMessage,
    NewRoom, NewSession, NewUser, Restriction, Role, RoomKind, RoomMember, RoomQuery, StatusRecord,
    Store, StoreError, UserSummary, WriteRefusal,
};

fn now() -> DateTime<Utc> {
    // Whole milliseconds: what every backend can store exactly.
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is in range")
}

async fn user(store: &dyn Store, name: &str) -> i64 {
    store
        .create_user(NewUser {
            username: name,
            email: None,
            password_hash: "$argon2id$stub",
            created_at: now(),
        })
        .await
        .expect("create user")
        .id
}

async fn room(store: &dyn Store, name: &str) -> i64 {
    store
        .create_room(NewRoom {
            name,
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now(),
        })
        .await
        .expect("create room")
        .id
}

fn message(room_id: i64, user_id: i64, text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        room_id,
        user_id,
        text: text.to_owned(),
        client_id: client_id.map(str::to_owned),
        assistant: false,
        created_at: now(),
        reply_to: None,
        mentions: Default::default(),
        attachments: Vec::new(),
    }
}

/// Usernames and emails are unique case-insensitively, kept as typed, found in any case.
pub async fn accounts_are_unique_case_insensitively(store: &dyn Store) {
    let created_at = now();
    let alice = store
        .create_user(NewUser {
            username: "Acc_Alice",
            email: Some("Acc.Alice@Example.org"),
            password_hash: "$argon2id$stub",
            created_at,
        })
        .await
        .unwrap();
    assert_eq!(alice.username, "Acc_Alice");
    assert_eq!(alice.created_at, created_at);
    assert_eq!(alice.status, StatusRecord::default());

    let same_name = store
        .create_user(NewUser {
            username: "acc_alice",
            email: None,
            password_hash: "x",
            created_at,
        })
        .await;
    assert!(
        matches!(same_name, Err(StoreError::Conflict(ConflictOn::Username))),
        "{same_name:?}"
    );
    let same_email = store
        .create_user(NewUser {
            username: "acc_other",
            email: Some("acc.alice@example.ORG"),
            password_hash: "x",
            created_at,
        })
        .await;
    assert!(
        matches!(same_email, Err(StoreError::Conflict(ConflictOn::Email))),
        "{same_email:?}"
    );

    let found = store
        .find_user_by_username("ACC_ALICE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, alice);
    let found = store
        .find_user_by_email("acc.alice@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(store.get_user(alice.id).await.unwrap().unwrap(), alice);
    // `_` is a literal character, not a wildcard.
    assert!(
        store
            .find_user_by_username("accXalice")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_user(i64::MAX).await.unwrap().is_none());
}

/// Status and note round-trip; an unknown user is `NotFound`.
pub async fn status_is_stored(store: &dyn Store) {
    let id = user(store, "st_bob").await;
    let since = now();
    let busy = StatusRecord {
        busy: true,
        note: Some("lunch".into()),
        busy_since: Some(since),
    };
    assert_eq!(store.set_status(id, &busy).await.unwrap().status, busy);
    assert_eq!(store.get_user(id).await.unwrap().unwrap().status, busy);
    // Busy again with a new note: the busy period keeps its start.
    let later = StatusRecord {
        busy: true,
        note: Some("still lunch".into()),
        busy_since: Some(since + Duration::minutes(5)),
    };
    assert_eq!(
        store
            .set_status(id, &later)
            .await
            .unwrap()
            .status
            .busy_since,
        Some(since)
    );
    let available = StatusRecord::default();
    assert_eq!(
        store.set_status(id, &available).await.unwrap().status,
        available
    );
    let missing = store.set_status(i64::MAX, &busy).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

/// Sessions are found by id, revoked once, and report their activity.
pub async fn sessions_can_be_revoked(store: &dyn Store) {
    let id = user(store, "se_carol").await;
    let created_at = now();
    let expires_at = created_at + Duration::hours(1);
    store
        .create_session(NewSession {
            id: "se-session-1",
            user_id: id,
            created_at,
            expires_at,
        })
        .await
        .unwrap();
    let session = store.get_session("se-session-1").await.unwrap().unwrap();
    assert_eq!((session.user_id, session.expires_at), (id, expires_at));
    assert!(session.is_active(created_at));
    assert!(!session.is_active(expires_at));

    let before_logout = now();
    assert!(store.revoke_session("se-session-1", now()).await.unwrap());
    assert!(!store.revoke_session("se-session-1", now()).await.unwrap());
    let session = store.get_session("se-session-1").await.unwrap().unwrap();
    assert!(!session.is_active(created_at));
    assert!(store.get_session("se-none").await.unwrap().is_none());

    // Logouts since a moment: the revoked session, not an active one, not older ones.
    store
        .create_session(NewSession {
            id: "se-session-2",
            user_id: id,
            created_at,
            expires_at,
        })
        .await
        .unwrap();
    assert_eq!(
        store.revoked_since(before_logout).await.unwrap(),
        ["se-session-1"]
    );
    let later = now() + Duration::seconds(5);
    assert!(store.revoked_since(later).await.unwrap().is_empty());
}

/// Sessions that expired are purged, revoked or not; those still valid stay, revoked ones
/// included (their revocation is what keeps their tokens out).
pub async fn expired_sessions_are_purged(store: &dyn Store) {
    let id = user(store, "pu_dave").await;
    let created_at = now();
    let session = |name: &'static str, expires_at| NewSession {
        id: name,
        user_id: id,
        created_at,
        expires_at,
    };
    let past = created_at - Duration::hours(1);
    let future = created_at + Duration::hours(1);
    for (name, expires_at) in [
        ("pu-expired", past),
        ("pu-expired-revoked", past),
        ("pu-valid", future),
        ("pu-valid-revoked", future),
    ] {
        store
            .create_session(session(name, expires_at))
            .await
            .unwrap();
    }
    for name in ["pu-expired-revoked", "pu-valid-revoked"] {
        assert!(store.revoke_session(name, now()).await.unwrap());
    }
    assert_eq!(store.purge_sessions(created_at).await.unwrap(), 2);
    for (name, kept) in [
        ("pu-expired", false),
        ("pu-expired-revoked", false),
        ("pu-valid", true),
        ("pu-valid-revoked", true),
    ] {
        assert_eq!(
            store.get_session(name).await.unwrap().is_some(),
            kept,
            "{name}"
        );
    }
    assert_eq!(
        store.purge_sessions(created_at).await.unwrap(),
        0,
        "nothing left to purge"
    );
}

/// Several usernames are found in one query, in any case; unknown ones are left out.
pub async fn users_are_found_by_many_usernames(store: &dyn Store) {
    let ann = user(store, "mu_Ann").await;
    let bob = user(store, "mu_bob").await;
    let names = ["MU_ANN", "mu_Bob", "mu_nobody", "mu_ann"].map(str::to_owned);
    let mut found: Vec<i64> = store
        .find_users_by_username(&names)
        .await
        .unwrap()
        .iter()
        .map(|user| user.id)
        .collect();
    found.sort_unstable();
    assert_eq!(found, [ann, bob]);
    assert!(store.find_users_by_username(&[]).await.unwrap().is_empty());
}

/// A room's busy members are listed with their notes; available ones and other rooms' are not.
pub async fn busy_members_are_listed_per_room(store: &dyn Store) {
    let room_id = room(store, "bm_room").await;
    let other = room(store, "bm_other").await;
    let (zed, ann, cal, dan) = (
        user(store, "bm_zed").await,
        user(store, "bm_Ann").await,
        user(store, "bm_cal").await,
        user(store, "bm_dan").await,
    );
    for id in [zed, ann, cal] {
        store.add_member(id, room_id, now()).await.unwrap();
    }
    store.add_member(dan, other, now()).await.unwrap();
    let busy = |note: Option<&str>| StatusRecord {
        busy: true,
        note: note.map(str::to_owned),
        busy_since: Some(now()),
    };
    for (id, note) in [
        (zed, None),
        (ann, Some("in a meeting")),
        (dan, Some("away")),
    ] {
        store.set_status(id, &busy(note)).await.unwrap();
    }
    let listed = store.busy_members(room_id, 10).await.unwrap();
    let expected =
        [("bm_Ann", Some("in a meeting")), ("bm_zed", None)].map(|(name, note)| BusyMember {
            username: name.to_owned(),
            note: note.map(str::to_owned),
        });
    assert_eq!(listed, expected);
    assert_eq!(store.busy_members(room_id, 1).await.unwrap(), expected[..1]);
    store
        .set_status(ann, &StatusRecord::default())
        .await
        .unwrap();
    store.remove_member(zed, room_id).await.unwrap();
    assert!(store.busy_members(room_id, 10).await.unwrap().is_empty());
}

/// Rooms: unique names, `ensure_room` idempotent, literal case-insensitive search, cursor.
pub async fn rooms_are_created_searched_and_paged(store: &dyn Store) {
    let owner = user(store, "rm_dave").await;
    let created = store
        .create_room(NewRoom {
            name: "rm-alpha",
            kind: RoomKind::Public,
            topic: Some("The 100% FIRST_room"),
            created_by: Some(owner),
            created_at: now(),
        })
        .await
        .unwrap();
    assert_eq!(created.created_by.as_deref(), Some("rm_dave"));
    let again = store
        .create_room(NewRoom {
            name: "rm-alpha",
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now(),
        })
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(ConflictOn::RoomName))),
        "{again:?}"
    );
    let ensured = store
        .ensure_room(NewRoom {
            name: "rm-alpha",
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now(),
        })
        .await
        .unwrap();
    assert_eq!(ensured, created);
    for name in ["rm-beta", "rm-gamma", "rm-delta"] {
        room(store, name).await;
    }

    let search = |search: &'static str| async move {
        let rooms = store
            .list_rooms(RoomQuery {
                viewer: None,
                search: Some(search),
                after_name: None,
                limit: 100,
            })
            .await
            .unwrap();
        rooms.into_iter().map(|room| room.name).collect::<Vec<_>>()
    };
    assert_eq!(search("first_ROOM").await, ["rm-alpha"]);
    assert_eq!(search("100%").await, ["rm-alpha"]);
    assert!(search("first%room").await.is_empty());
    assert_eq!(
        search("rm-").await,
        ["rm-alpha", "rm-beta", "rm-delta", "rm-gamma"]
    );

    let page = store
        .list_rooms(RoomQuery {
            viewer: None,
            search: Some("rm-"),
            after_name: Some("rm-beta"),
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|room| room.name.as_str())
            .collect::<Vec<_>>(),
        ["rm-delta"]
    );
    assert_eq!(
        store.get_room("rm-gamma").await.unwrap().unwrap().name,
        "rm-gamma"
    );
    assert!(store.get_room("rm-none").await.unwrap().is_none());
}

/// Membership, read markers (never moving back) and unread counts: what others wrote,
/// and the user's own assistant's replies, not the user's own messages.
pub async fn membership_tracks_reading(store: &dyn Store) {
    let erin = user(store, "mb_erin").await;
    let other = user(store, "mb_other").await;
    let room_id = room(store, "mb-room").await;
    store.add_member(erin, room_id, now()).await.unwrap();
    store.add_member(erin, room_id, now()).await.unwrap();
    let batch: Vec<_> = (0..3)
        .map(|i| message(room_id, other, &format!("m{i}"), None))
        .collect();
    let stored: Vec<_> = store
        .append_messages(&batch)
        .await
        .unwrap()
        .into_iter()
        .map(|appended| appended.record)
        .collect();

    let rooms = store.member_rooms(erin).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        (
            rooms[0].room.name.as_str(),
            rooms[0].last_read,
            rooms[0].unread
        ),
        ("mb-room", 0, 3)
    );

    assert_eq!(
        store.mark_read(erin, room_id, stored[1].id).await.unwrap(),
        stored[1].id
    );
    assert_eq!(
        store.mark_read(erin, room_id, stored[0].id).await.unwrap(),
        stored[1].id
    );
    assert_eq!(store.member_rooms(erin).await.unwrap()[0].unread, 1);
    // A marker from the future stops at the newest message, so later ones count as unread.
    assert_eq!(
        store.mark_read(erin, room_id, i64::MAX).await.unwrap(),
        stored[2].id
    );
    store
        .append_messages(&[message(room_id, other, "later", None)])
        .await
        .unwrap();
    assert_eq!(store.member_rooms(erin).await.unwrap()[0].unread, 1);
    // The user's own message is not unread for them (it was: 7 became 8); a reply their
    // assistant posted for them is.
    let mut by_assistant = message(room_id, erin, "erin is busy", None);
    by_assistant.assistant = true;
    store
        .append_messages(&[message(room_id, erin, "mine", None), by_assistant])
        .await
        .unwrap();
    assert_eq!(store.member_rooms(erin).await.unwrap()[0].unread, 2);

    assert!(store.remove_member(erin, room_id).await.unwrap());
    assert!(!store.remove_member(erin, room_id).await.unwrap());
    assert!(store.member_rooms(erin).await.unwrap().is_empty());
    let not_member = store.mark_read(erin, room_id, 1).await;
    assert!(
        matches!(not_member, Err(StoreError::NotFound)),
        "{not_member:?}"
    );
    let unknown_room = store.add_member(erin, i64::MAX, now()).await;
    assert!(
        matches!(unknown_room, Err(StoreError::NotFound)),
        "{unknown_room:?}"
    );
}

/// A batch is stored in order with increasing ids; the same `(user, client_id)` is stored
/// once, even inside one batch, while another user may reuse the `client_id`.
pub async fn appends_are_ordered_and_idempotent(store: &dyn Store) {
    let frank = user(store, "ap_frank").await;
    let grace = user(store, "ap_grace").await;
    let room_id = room(store, "ap-room").await;

    let first = store
        .append_messages(&[
            message(room_id, frank, "one", Some("c1")),
            message(room_id, frank, "two", None),
            message(room_id, frank, "one again", Some("c1")),
            message(room_id, grace, "grace's c1", Some("c1")),
        ])
        .await
        .unwrap();
    assert_eq!(first.len(), 4);
    let news: Vec<bool> = first.iter().map(|appended| appended.is_new).collect();
    assert_eq!(news, [true, true, false, true]);
    let first: Vec<_> = first.into_iter().map(|appended| appended.record).collect();
    assert!(first[0].id < first[1].id && first[1].id < first[3].id);
    assert_eq!(
        first[2], first[0],
        "a repeated client_id returns the stored message"
    );
    assert_eq!(first[0].text, "one");
    assert_eq!(
        (first[0].room.as_str(), first[0].username.as_str()),
        ("ap-room", "ap_frank")
    );
    assert_eq!(first[3].username, "ap_grace");

    let retry = store
        .append_messages(&[message(room_id, frank, "retry", Some("c1"))])
        .await
        .unwrap();
    assert_eq!((&retry[0].record, retry[0].is_new), (&first[0], false));
    let (all, more) = store
        .list_messages(
            room_id,
            MessageQuery {
                before: None,
                after: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(!more);

    let unknown_room = store
        .append_messages(&[message(i64::MAX, frank, "lost", None)])
        .await;
    assert!(
        matches!(unknown_room, Err(StoreError::NotFound)),
        "{unknown_room:?}"
    );
}

/// A failing message fails its whole batch: nothing of it is stored.
pub async fn a_batch_is_all_or_nothing(store: &dyn Store) {
    let heidi = user(store, "ba_heidi").await;
    let room_id = room(store, "ba-room").await;
    let result = store
        .append_messages(&[
            message(room_id, heidi, "kept?", None),
            message(i64::MAX, heidi, "bad", None),
        ])
        .await;
    assert!(result.is_err());
    let (stored, _) = store
        .list_messages(
            room_id,
            MessageQuery {
                before: None,
                after: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

/// Messages since a moment, across the rooms the user belongs to (catch-up).
pub async fn messages_since_cover_the_users_rooms(store: &dyn Store) {
    let ann = user(store, "ms_ann").await;
    let mine = room(store, "ms-mine").await;
    let other = room(store, "ms-other").await;
    store.add_member(ann, mine, now()).await.unwrap();
    let mut early = message(mine, ann, "early", None);
    early.created_at = now() - Duration::hours(1);
    store.append_messages(&[early]).await.unwrap();
    let since = now() - Duration::minutes(1);
    store
        .append_messages(&[
            message(mine, ann, "recent", None),
            message(other, ann, "elsewhere", None),
        ])
        .await
        .unwrap();
    let texts: Vec<String> = store
        .messages_since(ann, since, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["recent"]);
}

/// History pages: newest-first cut returned oldest first, `before`, `after`, `more`.
pub async fn history_pages_both_ways(store: &dyn Store) {
    let ivan = user(store, "hp_ivan").await;
    let room_id = room(store, "hp-room").await;
    let other_room = room(store, "hp-other").await;
    let batch: Vec<_> = (0..10)
        .map(|i| message(room_id, ivan, &format!("m{i}"), None))
        .collect();
    let ids: Vec<i64> = store
        .append_messages(&batch)
        .await
        .unwrap()
        .iter()
        .map(|appended| appended.record.id)
        .collect();
    store
        .append_messages(&[message(other_room, ivan, "elsewhere", None)])
        .await
        .unwrap();

    let page = |before, after, limit| async move {
        let (messages, more) = store
            .list_messages(
                room_id,
                MessageQuery {
                    before,
                    after,
                    limit,
                },
            )
            .await
            .unwrap();
        (messages.iter().map(|m| m.id).collect::<Vec<_>>(), more)
    };
    assert_eq!(page(None, None, 3).await, (ids[7..].to_vec(), true));
    assert_eq!(
        page(Some(ids[7]), None, 3).await,
        (ids[4..7].to_vec(), true)
    );
    assert_eq!(
        page(Some(ids[3]), None, 5).await,
        (ids[..3].to_vec(), false)
    );
    assert_eq!(
        page(None, Some(ids[2]), 4).await,
        (ids[3..7].to_vec(), true)
    );
    assert_eq!(
        page(None, Some(ids[6]), 4).await,
        (ids[7..].to_vec(), false)
    );
    assert_eq!(
        page(Some(ids[5]), Some(ids[1]), 10).await,
        (ids[2..5].to_vec(), false)
    );
    assert_eq!(page(None, Some(ids[9]), 10).await, (vec![], false));
}

async fn room_of(store: &dyn Store, name: &str, kind: RoomKind, owner: Option<i64>) -> i64 {
    store
        .create_room(NewRoom {
            name,
            kind,
            topic: Some("a topic"),
            created_by: owner,
            created_at: now(),
        })
        .await
        .expect("create room")
        .id
}

fn names(rooms: &[crate::RoomRecord]) -> Vec<&str> {
    rooms.iter().map(|room| room.name.as_str()).collect()
}

/// A room's kind is stored; its creator is its owner; private rooms are listed and found
/// only for their members, DMs never.
pub async fn private_rooms_are_seen_by_their_members_only(store: &dyn Store) {
    let owner = user(store, "pv-owner").await;
    let outsider = user(store, "pv-outsider").await;
    let public = room_of(store, "pv-open", RoomKind::Public, Some(owner)).await;
    let private = room_of(store, "pv-secret", RoomKind::Private, Some(owner)).await;
    assert_eq!(
        store.get_room("pv-secret").await.unwrap().unwrap().kind,
        RoomKind::Private
    );
    assert_eq!(
        store.role_in(owner, private).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(
        store.role_in(owner, public).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(store.role_in(outsider, private).await.unwrap(), None);
    let (dm, _) = store
        .open_dm(NewDm {
            name: "dm.pv-pair",
            members: &[owner, outsider],
            created_by: owner,
            created_at: now(),
        })
        .await
        .unwrap();
    assert_eq!(dm.kind, RoomKind::Dm);

    let listed = |viewer: Option<i64>, search: Option<&'static str>| async move {
        store
            .list_rooms(RoomQuery {
                viewer,
                search: search.or(Some("pv-")),
                after_name: None,
                limit: 100,
            })
            .await
            .unwrap()
    };
    assert_eq!(
        names(&listed(Some(owner), None).await),
        ["pv-open", "pv-secret"]
    );
    assert_eq!(names(&listed(Some(outsider), None).await), ["pv-open"]);
    assert_eq!(names(&listed(None, None).await), ["pv-open"]);
    assert!(listed(Some(outsider), Some("secret")).await.is_empty());
    assert_eq!(
        names(&listed(Some(owner), Some("secret")).await),
        ["pv-secret"]
    );
    // The DM is nobody's to list, not even its members'; it is in their own rooms.
    assert!(listed(Some(owner), Some("dm.pv")).await.is_empty());
    let mine = store.member_rooms(outsider).await.unwrap();
    assert_eq!(
        mine.iter()
            .map(|m| (m.room.name.as_str(), m.room.kind, m.role))
            .collect::<Vec<_>>(),
        [("dm.pv-pair", RoomKind::Dm, Role::Member)]
    );
}

/// The same set of people always gets the same DM, whatever the order or repeats; another
/// set gets another; everyone in it is a member.
pub async fn a_set_of_people_has_one_dm(store: &dyn Store) {
    let ann = user(store, "dm-ann").await;
    let bob = user(store, "dm-bob").await;
    let cat = user(store, "dm-cat").await;
    let open = |name: &'static str, members: Vec<i64>| async move {
        store
            .open_dm(NewDm {
                name,
                members: &members,
                created_by: members[0],
                created_at: now(),
            })
            .await
            .unwrap()
    };
    let (first, new) = open("dm.one", vec![ann, bob]).await;
    assert!(new);
    let (again, new) = open("dm.two", vec![bob, ann, bob]).await;
    assert!(!new, "the pair has its DM already");
    assert_eq!((again.id, again.name.as_str()), (first.id, "dm.one"));
    let (trio, new) = open("dm.three", vec![cat, ann, bob]).await;
    assert!(new);
    assert_ne!(trio.id, first.id);
    for member in [ann, bob, cat] {
        assert_eq!(
            store.role_in(member, trio.id).await.unwrap(),
            Some(Role::Member)
        );
    }
    assert_eq!(store.role_in(cat, first.id).await.unwrap(), None);
    let unknown = store
        .open_dm(NewDm {
            name: "dm.ghost",
            members: &[ann, i64::MAX],
            created_by: ann,
            created_at: now(),
        })
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    assert!(
        store.get_room("dm.ghost").await.unwrap().is_none(),
        "nothing half made"
    );
}

/// Roles are set per membership; members are listed with role and status, paged by name.
pub async fn members_are_listed_with_roles(store: &dyn Store) {
    let owner = user(store, "mr-owner").await;
    let zed = user(store, "mr-zed").await;
    let amy = user(store, "mr-amy").await;
    let room = room_of(store, "mr-room", RoomKind::Public, Some(owner)).await;
    store.add_member(zed, room, now()).await.unwrap();
    store.add_member(amy, room, now()).await.unwrap();
    assert!(store.set_role(amy, room, Role::Admin).await.unwrap());
    let stranger = user(store, "mr-stranger").await;
    assert!(!store.set_role(stranger, room, Role::Admin).await.unwrap());
    assert_eq!(store.role_in(stranger, room).await.unwrap(), None);
    store
        .set_status(
            zed,
            &StatusRecord {
                busy: true,
                note: Some("away".into()),
                busy_since: Some(now()),
            },
        )
        .await
        .unwrap();
    let first = store.room_members(room, None, 2).await.unwrap();
    assert_eq!(
        first,
        [
            RoomMember {
                user_id: amy,
                username: "mr-amy".into(),
                role: Role::Admin,
                busy: false,
                note: None,
            },
            RoomMember {
                user_id: owner,
                username: "mr-owner".into(),
                role: Role::Owner,
                busy: false,
                note: None,
            },
        ]
    );
    let rest = store.room_members(room, Some("mr-owner"), 2).await.unwrap();
    assert_eq!(
        rest,
        [RoomMember {
            user_id: zed,
            username: "mr-zed".into(),
            role: Role::Member,
            busy: true,
            note: Some("away".into()),
        }]
    );
    // Leaving and coming back is a plain member again.
    assert!(store.remove_member(amy, room).await.unwrap());
    store.add_member(amy, room, now()).await.unwrap();
    assert_eq!(store.role_in(amy, room).await.unwrap(), Some(Role::Member));
}

/// People are found by the start of their name, case-insensitively, paged; never emails.
pub async fn users_are_found_by_prefix(store: &dyn Store) {
    for name in ["fp-Carol", "fp-carl", "fp-dave", "fpx-carla"] {
        user(store, name).await;
    }
    let found = store.search_users("FP-CAR", None, 10).await.unwrap();
    let found: Vec<&str> = found.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(found, ["fp-carl", "fp-Carol"]);
    let page = store
        .search_users("fp-", Some("fp-carol"), 10)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
        ["fp-dave"]
    );
    // Literal: `%` and `_` are characters, not patterns.
    assert!(
        store
            .search_users("fp%", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_users("fp_", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let one: Vec<UserSummary> = store.search_users("fp-", None, 1).await.unwrap();
    assert_eq!(one.len(), 1);
}

/// Blocks are set and lifted once; who blocks whom is asked among a set of people.
pub async fn blocks_are_kept_per_pair(store: &dyn Store) {
    let ann = user(store, "bl-ann").await;
    let bob = user(store, "bl-bob").await;
    let cat = user(store, "bl-cat").await;
    assert!(store.set_block(ann, bob, true, now()).await.unwrap());
    assert!(
        !store.set_block(ann, bob, true, now()).await.unwrap(),
        "once"
    );
    assert!(store.set_block(cat, bob, true, now()).await.unwrap());
    let mut blockers = store.blockers_of(bob, &[ann, cat]).await.unwrap();
    blockers.sort_unstable();
    assert_eq!(blockers, [ann, cat]);
    assert!(
        store
            .blockers_of(ann, &[bob, cat])
            .await
            .unwrap()
            .is_empty(),
        "one way"
    );
    assert!(store.blockers_of(bob, &[]).await.unwrap().is_empty());
    assert!(store.set_block(ann, bob, false, now()).await.unwrap());
    assert!(!store.set_block(ann, bob, false, now()).await.unwrap());
    assert_eq!(store.blockers_of(bob, &[ann, cat]).await.unwrap(), [cat]);
    assert!(store.set_block(ann, cat, true, now()).await.unwrap());
    assert!(store.set_block(ann, bob, true, now()).await.unwrap());
    let names: Vec<String> = store
        .blocked_by(ann)
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.username)
        .collect();
    assert_eq!(names, ["bl-bob", "bl-cat"], "the blocker's list, by name");
    assert!(store.blocked_by(bob).await.unwrap().is_empty());
    let unknown = store.set_block(ann, i64::MAX, true, now()).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

fn action<'a>(
    room_id: i64,
    actor: i64,
    target: i64,
    action: ModerationAction,
    reason: Option<&'a str>,
    expires_at: Option<DateTime<Utc>>,
) -> Moderation<'a> {
    Moderation {
        room_id,
        actor,
        target,
        action,
        reason,
        expires_at,
        at: now(),
    }
}

/// Invites are held until used by joining or declined; a ban ends the membership and the
/// invite and keeps its reason and expiry; an expired restriction is none; mutes stand
/// apart from bans; every change is recorded once, newest first, and no-ops are not.
pub async fn moderation_is_applied_and_recorded(store: &dyn Store) {
    use ModerationAction::{Ban, Invite, Kick, Mute, SetRole, Unban, Unmute};
    let owner = user(store, "md-owner").await;
    let guest = user(store, "md-guest").await;
    let troll = user(store, "md-troll").await;
    let room = room_of(store, "md-room", RoomKind::Private, Some(owner)).await;

    assert!(
        store
            .moderate(action(room, owner, guest, Invite, None, None))
            .await
            .unwrap()
    );
    assert!(
        !store
            .moderate(action(room, owner, guest, Invite, None, None))
            .await
            .unwrap()
    );
    assert!(store.has_invite(room, guest).await.unwrap());
    let invites = store.invites_for(guest).await.unwrap();
    assert_eq!(
        invites
            .iter()
            .map(|i| (i.room.name.as_str(), i.invited_by.as_deref()))
            .collect::<Vec<_>>(),
        [("md-room", Some("md-owner"))]
    );
    store.add_member(guest, room, now()).await.unwrap();
    assert!(
        !store.has_invite(room, guest).await.unwrap(),
        "joining uses it up"
    );
    assert!(store.invites_for(guest).await.unwrap().is_empty());

    assert!(
        store
            .moderate(action(room, owner, guest, SetRole(Role::Admin), None, None))
            .await
            .unwrap()
    );
    assert_eq!(store.role_in(guest, room).await.unwrap(), Some(Role::Admin));
    assert!(
        !store
            .moderate(action(room, owner, troll, SetRole(Role::Admin), None, None))
            .await
            .unwrap(),
        "a role is for members"
    );

    // A mute: in force, then lifted.
    store
        .moderate(action(room, guest, troll, Invite, None, None))
        .await
        .unwrap();
    store.add_member(troll, room, now()).await.unwrap();
    let until = now() + Duration::hours(1);
    assert!(
        store
            .moderate(action(room, guest, troll, Mute, Some("spam"), Some(until)))
            .await
            .unwrap()
    );
    let mute = store
        .restriction(room, troll, Restriction::Mute, now())
        .await
        .unwrap()
        .expect("muted");
    assert_eq!(
        (mute.reason.as_deref(), mute.expires_at),
        (Some("spam"), Some(until))
    );
    assert!(
        store
            .restriction(room, troll, Restriction::Ban, now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .restriction(room, troll, Restriction::Mute, until + Duration::seconds(1))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert_eq!(
        store
            .restricted_rooms(troll, Restriction::Mute, now())
            .await
            .unwrap(),
        [room],
        "the rooms a mute holds in"
    );
    assert!(
        store
            .restricted_rooms(troll, Restriction::Mute, until + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty(),
        "none once it expired"
    );
    assert!(
        store
            .restricted_rooms(troll, Restriction::Ban, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .moderate(action(room, guest, troll, Unmute, None, None))
            .await
            .unwrap()
    );
    assert!(
        !store
            .moderate(action(room, guest, troll, Unmute, None, None))
            .await
            .unwrap()
    );

    // A ban ends membership and the invite, and lasts until lifted.
    store
        .moderate(action(room, owner, troll, Invite, None, None))
        .await
        .unwrap();
    store.remove_member(troll, room).await.unwrap();
    assert!(
        !store
            .moderate(action(room, owner, troll, Invite, None, None))
            .await
            .unwrap(),
        "the invite is held already"
    );
    assert!(
        store
            .moderate(action(room, owner, troll, Ban, Some("abuse"), None))
            .await
            .unwrap()
    );
    assert_eq!(store.role_in(troll, room).await.unwrap(), None);
    assert!(!store.has_invite(room, troll).await.unwrap());
    let ban = store
        .restriction(room, troll, Restriction::Ban, now() + Duration::days(3650))
        .await
        .unwrap();
    assert_eq!(
        ban.and_then(|b| b.reason),
        Some("abuse".into()),
        "no expiry: for good"
    );
    assert!(
        store
            .moderate(action(room, owner, troll, Unban, None, None))
            .await
            .unwrap()
    );
    assert!(
        store
            .restriction(room, troll, Restriction::Ban, now())
            .await
            .unwrap()
            .is_none()
    );

    // Kick: a member is removed; kicking a non-member changes nothing.
    assert!(
        store
            .moderate(action(room, owner, guest, Kick, Some("cool off"), None))
            .await
            .unwrap()
    );
    assert!(
        !store
            .moderate(action(room, owner, guest, Kick, None, None))
            .await
            .unwrap()
    );
    assert_eq!(store.role_in(guest, room).await.unwrap(), None);

    let unknown = store
        .moderate(action(room, owner, i64::MAX, Ban, None, None))
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");

    let record = store.audit(room, None, 100).await.unwrap();
    let lines: Vec<(&str, Option<&str>, Option<&str>)> = record
        .iter()
        .map(|r| (r.action.as_str(), r.target.as_deref(), r.reason.as_deref()))
        .collect();
    assert_eq!(
        lines,
        [
            ("kick", Some("md-guest"), Some("cool off")),
            ("unban", Some("md-troll"), None),
            ("ban", Some("md-troll"), Some("abuse")),
            ("invite", Some("md-troll"), None),
            ("unmute", Some("md-troll"), None),
            ("mute", Some("md-troll"), Some("spam")),
            ("invite", Some("md-troll"), None),
            ("make_admin", Some("md-guest"), None),
            ("invite", Some("md-guest"), None),
        ]
    );
    assert_eq!(record[5].actor.as_deref(), Some("md-guest"));
    assert_eq!(record[5].expires_at, Some(until));
    let older = store.audit(room, Some(record[1].id), 2).await.unwrap();
    assert_eq!(
        older.iter().map(|r| r.id).collect::<Vec<_>>(),
        [record[2].id, record[3].id]
    );

    // Declining removes an invite.
    let other = room_of(store, "md-other", RoomKind::Private, Some(owner)).await;
    store
        .moderate(action(other, owner, guest, Invite, None, None))
        .await
        .unwrap();
    assert!(store.decline_invite(other, guest).await.unwrap());
    assert!(!store.decline_invite(other, guest).await.unwrap());
    assert!(!store.has_invite(other, guest).await.unwrap());
}

/// A topic is replaced, and search follows it; a DM has none to set.
pub async fn a_topic_is_replaced_and_searched(store: &dyn Store) {
    let owner = user(store, "tp-owner").await;
    let room = room_of(store, "tp-room", RoomKind::Public, Some(owner)).await;
    let changed = store
        .set_topic(room, Some("Quantum Gardening"))
        .await
        .unwrap();
    assert_eq!(changed.topic.as_deref(), Some("Quantum Gardening"));
    let search = |q: &'static str| async move {
        store
            .list_rooms(RoomQuery {
                viewer: Some(owner),
                search: Some(q),
                after_name: None,
                limit: 10,
            })
            .await
            .unwrap()
    };
    assert_eq!(names(&search("quantum garden").await), ["tp-room"]);
    assert!(search("a topic").await.is_empty(), "the old topic is gone");
    assert_eq!(
        names(&search("tp-room").await),
        ["tp-room"],
        "the name still matches"
    );
    assert_eq!(store.set_topic(room, None).await.unwrap().topic, None);
    let other = user(store, "tp-other").await;
    let (dm, _) = store
        .open_dm(NewDm {
            name: "dm.tp",
            members: &[owner, other],
            created_by: owner,
            created_at: now(),
        })
        .await
        .unwrap();
    let refused = store.set_topic(dm.id, Some("x")).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    assert!(matches!(
        store.set_topic(i64::MAX, None).await,
        Err(StoreError::NotFound)
    ));
}

/// An archived room is found nowhere, keeps its name, and cannot be archived twice.
pub async fn an_archived_room_is_gone_but_keeps_its_name(store: &dyn Store) {
    let owner = user(store, "ar-owner").await;
    let room = room_of(store, "ar-room", RoomKind::Private, Some(owner)).await;
    let guest = user(store, "ar-guest").await;
    store
        .moderate(action(
            room,
            owner,
            guest,
            ModerationAction::Invite,
            None,
            None,
        ))
        .await
        .unwrap();
    store
        .append_messages(&[message(room, owner, "@ar-guest see this", None)])
        .await
        .unwrap();
    assert!(store.archive_room(room, now()).await.unwrap());
    assert!(!store.archive_room(room, now()).await.unwrap(), "once");
    assert!(store.get_room("ar-room").await.unwrap().is_none());
    let listed = store
        .list_rooms(RoomQuery {
            viewer: Some(owner),
            search: Some("ar-"),
            after_name: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert!(store.member_rooms(owner).await.unwrap().is_empty());
    assert!(store.invites_for(guest).await.unwrap().is_empty());
    let since = now() - Duration::hours(1);
    assert!(
        store
            .messages_since(owner, since, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .create_room(NewRoom {
            name: "ar-room",
            kind: RoomKind::Public,
            topic: None,
            created_by: Some(owner),
            created_at: now(),
        })
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(ConflictOn::RoomName))),
        "{again:?}"
    );
}

/// Whether every member of a private room may invite is a setting of private rooms only.
pub async fn members_may_be_allowed_to_invite_in_private_rooms(store: &dyn Store) {
    let owner = user(store, "mi-owner").await;
    let private = room_of(store, "mi-private", RoomKind::Private, Some(owner)).await;
    let public = room_of(store, "mi-public", RoomKind::Public, Some(owner)).await;
    assert!(
        !store
            .get_room("mi-private")
            .await
            .unwrap()
            .unwrap()
            .members_invite
    );
    store.set_members_invite(private, true).await.unwrap();
    assert!(
        store
            .get_room("mi-private")
            .await
            .unwrap()
            .unwrap()
            .members_invite
    );
    store.set_members_invite(private, false).await.unwrap();
    assert!(
        !store
            .get_room("mi-private")
            .await
            .unwrap()
            .unwrap()
            .members_invite
    );
    let refused = store.set_members_invite(public, true).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
}

async fn write_one(store: &dyn Store, write: MessageWrite) -> MessageWritten {
    let mut written = store.write_messages(&[write]).await.expect("write");
    written.pop().expect("one answer")
}

fn change(room_id: i64, message_id: i64, user_id: i64, kind: ChangeKind) -> MessageWrite {
    MessageWrite::Change(MessageChange {
        room_id,
        message_id,
        user_id,
        at: now(),
        kind,
    })
}

fn edit(text: &str, client_id: Option<&str>) -> ChangeKind {
    ChangeKind::Edit {
        text: text.to_owned(),
        client_id: client_id.map(str::to_owned),
        sent_after: None,
    }
}

fn react(emoji: &str, add: bool) -> ChangeKind {
    ChangeKind::React {
        emoji: emoji.to_owned(),
        add,
    }
}

/// The message after a change that must have changed it.
fn changed(written: MessageWritten) -> MessageRecord {
    match written {
        MessageWritten::Changed {
            record,
            changed: true,
            ..
        } => record,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn unchanged(written: MessageWritten) -> MessageRecord {
    match written {
        MessageWritten::Changed {
            record,
            changed: false,
            ..
        } => record,
        other => panic!("expected no change, got {other:?}"),
    }
}

fn refused(written: MessageWritten) -> WriteRefusal {
    match written {
        MessageWritten::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Edits, deletions, reactions and replies: each takes the next position (the message's
/// `seq`), is refused by its rule without storing anything, or changes nothing when it is
/// already so; a deleted message's text is gone.
pub async fn changes_take_positions_by_their_rules(store: &dyn Store) {
    let ann = user(store, "ch-ann").await;
    let bob = user(store, "ch-bob").await;
    let room_id = room(store, "ch-room").await;
    let other_room = room(store, "ch-other").await;
    let first = store
        .append_messages(&[
            message(room_id, ann, "helo", Some("c1")),
            message(room_id, bob, "hi", None),
        ])
        .await
        .unwrap();
    let (m1, m2) = (first[0].record.clone(), first[1].record.clone());
    assert_eq!((m1.seq, m2.seq), (m1.id, m2.id), "unchanged: seq is id");
    assert!(m1.reactions.is_empty() && !m1.deleted && m1.edited_at.is_none());

    // Edit: the author only; the same client_id again, or the same text, changes nothing.
    let edited = changed(
        write_one(
            store,
            change(room_id, m1.id, ann, edit("hello", Some("e1"))),
        )
        .await,
    );
    assert!(edited.seq > m2.id, "a new position: {edited:?}");
    assert_eq!((edited.text.as_str(), edited.id), ("hello", m1.id));
    assert!(edited.edited_at.is_some());
    let again = unchanged(
        write_one(
            store,
            change(room_id, m1.id, ann, edit("hello!", Some("e1"))),
        )
        .await,
    );
    assert_eq!((again.text.as_str(), again.seq), ("hello", edited.seq));
    unchanged(write_one(store, change(room_id, m1.id, ann, edit("hello", None))).await);
    let late = ChangeKind::Edit {
        text: "too late".into(),
        client_id: None,
        sent_after: Some(m1.created_at + Duration::seconds(1)),
    };
    assert_eq!(
        refused(write_one(store, change(room_id, m1.id, ann, late)).await),
        WriteRefusal::EditWindowClosed
    );
    assert_eq!(
        refused(write_one(store, change(room_id, m1.id, bob, edit("mine now", None))).await),
        WriteRefusal::NotAuthor
    );
    assert_eq!(
        refused(write_one(store, change(other_room, m1.id, ann, edit("x", None))).await),
        WriteRefusal::NoSuchMessage,
        "a message is changed through its own room only"
    );
    assert_eq!(
        refused(write_one(store, change(room_id, i64::MAX, ann, edit("x", None))).await),
        WriteRefusal::NoSuchMessage
    );

    // Reactions: one per user per emoji, by first use, at most 20 kinds.
    let thumbs = changed(write_one(store, change(room_id, m2.id, ann, react("👍", true))).await);
    changed(write_one(store, change(room_id, m2.id, bob, react("🎉", true))).await);
    let both = changed(write_one(store, change(room_id, m2.id, bob, react("👍", true))).await);
    assert!(both.seq > thumbs.seq);
    assert_eq!(
        both.reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.users.clone()))
            .collect::<Vec<_>>(),
        [
            ("👍", vec!["ch-ann".to_owned(), "ch-bob".to_owned()]),
            ("🎉", vec!["ch-bob".to_owned()])
        ]
    );
    let same = unchanged(write_one(store, change(room_id, m2.id, ann, react("👍", true))).await);
    assert_eq!(same.seq, both.seq, "already there: no position");
    for n in 0..18 {
        let emoji = char::from_u32(0x1F600 + n).unwrap().to_string();
        changed(write_one(store, change(room_id, m2.id, ann, react(&emoji, true))).await);
    }
    assert_eq!(
        refused(write_one(store, change(room_id, m2.id, ann, react("🦀", true))).await),
        WriteRefusal::TooManyReactions
    );
    changed(write_one(store, change(room_id, m2.id, ann, react("🎉", true))).await);
    let fewer = changed(write_one(store, change(room_id, m2.id, ann, react("👍", false))).await);
    // The order is by first use among the reactions there now: bob's 🎉 came before his 👍.
    assert_eq!(
        (
            fewer.reactions[0].emoji.as_str(),
            fewer.reactions[1].users.clone()
        ),
        ("🎉", vec!["ch-bob".to_owned()]),
        "{fewer:?}"
    );
    unchanged(write_one(store, change(room_id, m2.id, ann, react("👍", false))).await);

    // Replies: to a live message of the same room; the root's counts move, with a position.
    let reply = |to: i64, room: i64| {
        let mut new = message(room, bob, "a reply", None);
        new.reply_to = Some(to);
        MessageWrite::Append(new)
    };
    let (answer, root) = match write_one(store, reply(m1.id, room_id)).await {
        MessageWritten::Appended {
            appended,
            thread_root: Some(root),
            ..
        } => (appended.record, root),
        other => panic!("expected a reply and its root, got {other:?}"),
    };
    assert_eq!(answer.reply_to, Some(m1.id));
    assert_eq!((root.id, root.replies), (m1.id, 1));
    assert_eq!(root.last_reply_at, Some(answer.created_at));
    assert!(
        root.seq > answer.id,
        "the root changes after the reply is stored"
    );
    for (to, room) in [(m1.id, other_room), (i64::MAX, room_id)] {
        assert_eq!(
            refused(write_one(store, reply(to, room)).await),
            WriteRefusal::NoSuchMessage
        );
    }

    // Deletion: the author, or a moderator (any_author); the text is gone, twice is once.
    let delete = |any_author| ChangeKind::Delete { any_author };
    assert_eq!(
        refused(write_one(store, change(room_id, m1.id, bob, delete(false))).await),
        WriteRefusal::NotAuthor
    );
    let (tombstone, emptied) =
        match write_one(store, change(room_id, answer.id, bob, delete(false))).await {
            MessageWritten::Changed {
                record,
                changed: true,
                thread_root: Some(root),
                ..
            } => (record, root),
            other => panic!("expected a deletion and its root, got {other:?}"),
        };
    assert!(tombstone.deleted && tombstone.text.is_empty());
    assert_eq!((emptied.replies, emptied.last_reply_at), (0, None));
    let gone = changed(write_one(store, change(room_id, m2.id, ann, delete(true))).await);
    assert!(gone.deleted && gone.text.is_empty() && gone.reactions.is_empty());
    let twice = unchanged(write_one(store, change(room_id, m2.id, ann, delete(true))).await);
    assert_eq!(twice.seq, gone.seq);
    for kind in [edit("back", None), react("👍", true)] {
        assert_eq!(
            refused(write_one(store, change(room_id, m2.id, bob, kind)).await),
            WriteRefusal::NoSuchMessage
        );
    }
    assert_eq!(
        refused(write_one(store, reply(m2.id, room_id)).await),
        WriteRefusal::NoSuchMessage
    );
    // The client_id of a deleted message still names it: a resend stores nothing.
    let resent = store
        .append_messages(&[message(room_id, ann, "helo", Some("c1"))])
        .await
        .unwrap();
    assert!(!resent[0].is_new);
    assert_eq!(
        store.get_message(room_id, m2.id).await.unwrap().as_ref(),
        Some(&gone)
    );
    assert_eq!(store.get_message(other_room, m2.id).await.unwrap(), None);

    // What changed after m2 was sent: every message changed since, as it is now, by seq.
    let (since, more) = store.changes_after(room_id, m2.id, 100).await.unwrap();
    assert!(!more);
    let seqs: Vec<i64> = since.iter().map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let mut ids: Vec<i64> = since.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [m1.id, m2.id, answer.id]);
    let (page, _) = store
        .list_messages(
            room_id,
            MessageQuery {
                limit: 10,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    for message in &since {
        assert!(page.contains(message), "as read from scratch: {message:?}");
    }
    let (cut, more) = store.changes_after(room_id, m2.id, 2).await.unwrap();
    assert_eq!((cut.len(), more), (2, true));
    assert_eq!(cut, since[..2]);

    // The thread of m1: the root, then its replies (the deleted one is a tombstone).
    let mut second = message(room_id, ann, "another reply", None);
    second.reply_to = Some(m1.id);
    let second = store.append_messages(&[second]).await.unwrap()[0]
        .record
        .clone();
    let (thread, more) = store.thread(room_id, m1.id, None, 10).await.unwrap();
    assert!(!more);
    assert_eq!(
        thread.iter().map(|m| m.id).collect::<Vec<_>>(),
        [m1.id, answer.id, second.id]
    );
    let (after_root, _) = store.thread(room_id, m1.id, Some(m1.id), 1).await.unwrap();
    assert_eq!(
        after_root.iter().map(|m| m.id).collect::<Vec<_>>(),
        [answer.id]
    );
    assert!(
        store
            .thread(other_room, m1.id, None, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
}

/// A small deterministic generator, so a failing sequence can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Resume, against a model: 1,000 random sends, edits, deletions, replies and reactions in
/// batches; from every position a client may have stopped at, applying what
/// `changes_after` returns (paged) to what it held then gives exactly the room read from
/// scratch.
pub async fn resuming_from_any_position_equals_reading_from_scratch(store: &dyn Store) {
    use std::collections::BTreeMap;
    let people = [
        user(store, "rs-ann").await,
        user(store, "rs-bob").await,
        user(store, "rs-cy").await,
    ];
    let room_id = room(store, "rs-room").await;
    let mut rng = Lcg(0x5a1a);
    let mut ids: Vec<i64> = Vec::new();
    // What a client held after each batch: the room's messages by id, and its position.
    let mut snapshots: Vec<(i64, BTreeMap<i64, MessageRecord>)> = Vec::new();
    let mut seen = BTreeMap::new();
    let mut position = 0;
    let mut operations = 0;
    let emoji = ["👍", "🎉", "❤️", "😂"];
    while operations < 1000 {
        let mut batch = Vec::new();
        for _ in 0..=rng.below(8) {
            operations += 1;
            let by = people[rng.below(3) as usize];
            let pick = |rng: &mut Lcg| ids[rng.below(ids.len() as u64) as usize];
            let write = match (ids.is_empty(), rng.below(10)) {
                (true, _) | (false, 0..=3) => {
                    MessageWrite::Append(message(room_id, by, &format!("m{operations}"), None))
                }
                (false, 4) => {
                    let mut new = message(room_id, by, &format!("r{operations}"), None);
                    new.reply_to = Some(pick(&mut rng));
                    MessageWrite::Append(new)
                }
                (false, 5) => change(
                    room_id,
                    pick(&mut rng),
                    by,
                    edit(&format!("e{operations}"), None),
                ),
                (false, 6) => change(
                    room_id,
                    pick(&mut rng),
                    by,
                    ChangeKind::Delete {
                        any_author: rng.below(2) == 0,
                    },
                ),
                (false, _) => change(
                    room_id,
                    pick(&mut rng),
                    by,
                    react(emoji[rng.below(4) as usize], rng.below(3) > 0),
                ),
            };
            batch.push(write);
        }
        // What a live client sees: the records the writes answer, applied in order.
        for written in store.write_messages(&batch).await.unwrap() {
            let records = match written {
                MessageWritten::Appended {
                    appended,
                    thread_root,
                    ..
                } => {
                    ids.push(appended.record.id);
                    std::iter::once(appended.record)
                        .chain(thread_root)
                        .collect::<Vec<_>>()
                }
                MessageWritten::Changed {
                    record,
                    thread_root,
                    ..
                } => std::iter::once(record).chain(thread_root).collect(),
                MessageWritten::Refused(_) => Vec::new(),
            };
            for record in records {
                position = position.max(record.seq).max(record.id);
                seen.insert(record.id, record);
            }
        }
        snapshots.push((position, seen.clone()));
    }
    let (scratch, more) = store
        .list_messages(
            room_id,
            MessageQuery {
                limit: 5000,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(!more);
    let scratch: BTreeMap<i64, MessageRecord> = scratch.into_iter().map(|m| (m.id, m)).collect();
    assert_eq!(seen, scratch, "the live stream adds up to the room");
    for (at, mut held) in snapshots.into_iter().step_by(7) {
        let mut after = at;
        loop {
            let (page, more) = store.changes_after(room_id, after, 100).await.unwrap();
            for record in page {
                after = record.seq;
                held.insert(record.id, record);
            }
            if !more {
                break;
            }
        }
        assert_eq!(held, scratch, "resumed from {at}");
    }
}

/// Mentions are stored with the message and counted per member as unread: the people
/// named, and everyone for `@room` (the writer aside); a deletion or reading them clears
/// them.
pub async fn mentions_are_counted_as_unread_per_member(store: &dyn Store) {
    let ann = user(store, "mn-ann").await;
    let bob = user(store, "mn-bob").await;
    let cy = user(store, "mn-cy").await;
    let room_id = room(store, "mn-room").await;
    for person in [ann, bob, cy] {
        store.add_member(person, room_id, now()).await.unwrap();
    }
    let mention = |text: &str, users: Vec<(i64, String)>, room: bool| {
        let mut new = message(room_id, ann, text, None);
        new.mentions = crate::Mentions { users, room };
        new
    };
    let stored = store
        .append_messages(&[
            mention("@mn-bob look", vec![(bob, "mn-bob".into())], false),
            mention("@room heads up", Vec::new(), true),
            message(room_id, ann, "plain", None),
        ])
        .await
        .unwrap();
    let (to_bob, to_all) = (&stored[0].record, &stored[1].record);
    assert_eq!(
        (to_bob.mentions.clone(), to_bob.mentions_room),
        (vec!["mn-bob".to_owned()], false)
    );
    assert!(to_all.mentions_room && to_all.mentions.is_empty());
    let counts = |person: i64| async move {
        let rooms = store.member_rooms(person).await.unwrap();
        let room = rooms
            .iter()
            .find(|r| r.room.id == room_id)
            .expect("a member");
        (room.unread, room.unread_mentions)
    };
    assert_eq!(counts(bob).await, (3, 2));
    assert_eq!(counts(cy).await, (3, 1), "@room mentions cy too");
    assert_eq!(counts(ann).await, (0, 0), "one's own messages are not news");
    let delete = MessageWrite::Change(MessageChange {
        room_id,
        message_id: to_bob.id,
        user_id: ann,
        at: now(),
        kind: ChangeKind::Delete { any_author: false },
    });
    store.write_messages(&[delete]).await.unwrap();
    assert_eq!(counts(bob).await, (2, 1), "a tombstone is not unread");
    store.mark_read(bob, room_id, to_all.id).await.unwrap();
    assert_eq!(counts(bob).await, (1, 0));

    // Quieting a room is the member's own setting.
    let quiet = |person: i64| async move {
        let rooms = store.member_rooms(person).await.unwrap();
        rooms.iter().find(|r| r.room.id == room_id).unwrap().quiet
    };
    assert!(!quiet(bob).await);
    store.set_quiet(bob, room_id, true).await.unwrap();
    assert!(quiet(bob).await && !quiet(cy).await);
    store.set_quiet(bob, room_id, false).await.unwrap();
    assert!(!quiet(bob).await);
    let stranger = user(store, "mn-stranger").await;
    assert!(matches!(
        store.set_quiet(stranger, room_id, true).await,
        Err(StoreError::NotFound)
    ));
}

/// The room's latest position is the highest position its messages took; a store that
/// tells what each write follows (PostgreSQL) tells the position before it, so the
/// writes of a batch chain one after the other, from the room's latest before the batch,
/// room by room.
pub async fn writes_tell_the_position_they_follow(store: &dyn Store) {
    let ann = user(store, "fo-ann").await;
    let room_id = room(store, "fo-room").await;
    let other = room(store, "fo-other").await;
    assert_eq!(store.latest_position(room_id).await.unwrap(), 0, "empty");
    let first = write_one(
        store,
        MessageWrite::Append(message(room_id, ann, "one", None)),
    )
    .await;
    let one: Vec<i64> = first.positions().collect();
    assert_eq!(one.len(), 1);
    assert_eq!(store.latest_position(room_id).await.unwrap(), one[0]);
    let tells = first.follows().is_some();
    if tells {
        assert_eq!(first.follows(), Some(0));
    }
    let m1 = match &first {
        MessageWritten::Appended { appended, .. } => appended.record.id,
        other => panic!("expected an append, got {other:?}"),
    };
    let mut reply = message(room_id, ann, "re", None);
    reply.reply_to = Some(m1);
    let batch = store
        .write_messages(&[
            change(room_id, m1, ann, edit("one, edited", None)),
            MessageWrite::Append(message(other, ann, "elsewhere", None)),
            MessageWrite::Append(reply),
            // Already so: no position, nothing to follow.
            change(room_id, m1, ann, react("👍", false)),
            change(room_id, m1, ann, react("👍", true)),
        ])
        .await
        .unwrap();
    let positions: Vec<Vec<i64>> = batch.iter().map(|w| w.positions().collect()).collect();
    assert_eq!(positions[0].len(), 1, "the edit");
    assert_eq!(positions[2].len(), 2, "the reply and its root's new count");
    assert!(
        positions[2][0] < positions[2][1],
        "the reply first: {positions:?}"
    );
    assert!(positions[3].is_empty(), "a reaction not there, removed");
    assert_eq!(
        store.latest_position(room_id).await.unwrap(),
        positions[4][0],
        "the last reaction is the room's latest"
    );
    assert_eq!(store.latest_position(other).await.unwrap(), positions[1][0]);
    if tells {
        let follows: Vec<Option<i64>> = batch.iter().map(MessageWritten::follows).collect();
        assert_eq!(follows[0], Some(one[0]));
        assert_eq!(follows[1], Some(0), "another room's chain");
        assert_eq!(follows[2], Some(positions[0][0]));
        assert_eq!(follows[4], Some(positions[2][1]));
    } else {
        assert!(batch.iter().all(|w| w.follows().is_none()), "all or none");
    }
}

/// Search (issue 21): substrings, case-insensitively, in any script; characters that are
/// operators to an index are plain text; only rooms the reader is a member of; edits and
/// deletions seen at once; filters and the cursor.
pub async fn search_finds_only_what_the_reader_may_read(store: &dyn Store) {
    let ann = user(store, "se_ann").await;
    let bob = user(store, "se_bob").await;
    let mine = room(store, "se-mine").await;
    let other = room(store, "se-other").await;
    let secret = room_of(store, "se-secret", RoomKind::Private, Some(bob)).await;
    store.add_member(ann, mine, now()).await.unwrap();
    store.add_member(bob, mine, now()).await.unwrap();
    store.add_member(bob, secret, now()).await.unwrap();
    let texts = [
        (mine, bob, "Deploy the RELEASE notes today"),
        (mine, ann, "東京タワーに行った"),
        (mine, bob, r#"50% off_sale "quoted" NEAR AND -x ^y * \"#),
        (mine, ann, "go now"),
        (mine, bob, "to be edited alpha"),
        (mine, bob, "to be deleted beta"),
        (secret, bob, "release secret"),
        (other, bob, "release elsewhere"),
    ];
    let batch: Vec<NewMessage> = texts
        .iter()
        .map(|(room_id, user_id, text)| message(*room_id, *user_id, text, None))
        .collect();
    let ids: Vec<i64> = store
        .append_messages(&batch)
        .await
        .unwrap()
        .iter()
        .map(|appended| appended.record.id)
        .collect();
    let found = |reader: i64, texts: Vec<&'static str>| async move {
        store
            .search_messages(MessageSearch {
                reader_id: reader,
                texts: &texts,
                limit: 50,
                ..MessageSearch::default()
            })
            .await
            .expect("search")
            .into_iter()
            .map(|m| m.text)
            .collect::<Vec<_>>()
    };
    let release = "Deploy the RELEASE notes today";
    assert_eq!(found(ann, vec!["release"]).await, [release]);
    assert_eq!(found(ann, vec!["RELEASE NOTES"]).await, [release]);
    assert_eq!(found(ann, vec!["notes", "deploy"]).await, [release]);
    assert!(found(ann, vec!["notes release"]).await.is_empty());
    assert_eq!(found(ann, vec!["東京"]).await, ["東京タワーに行った"]);
    assert_eq!(found(ann, vec!["タワー"]).await, ["東京タワーに行った"]);
    assert_eq!(found(ann, vec!["go"]).await, ["go now"]);
    for operator in [
        "%",
        "_",
        "\"",
        "\"quoted\"",
        "NEAR",
        "AND",
        "-x",
        "^y",
        "*",
        "\\",
        "off_s",
    ] {
        assert_eq!(
            found(ann, vec![operator]).await,
            [texts[2].2],
            "{operator:?} is plain text"
        );
    }
    assert!(
        found(ann, vec!["secret"]).await.is_empty(),
        "a private room"
    );
    assert!(
        found(ann, vec!["elsewhere"]).await.is_empty(),
        "a room ann is not in"
    );
    assert_eq!(found(bob, vec!["secret"]).await, ["release secret"]);

    // An edit and a deletion are what search sees next, in the private room too.
    changed(write_one(store, change(mine, ids[4], bob, edit("now gamma", None))).await);
    let delete = ChangeKind::Delete { any_author: false };
    changed(write_one(store, change(mine, ids[5], bob, delete)).await);
    changed(
        write_one(
            store,
            change(secret, ids[6], bob, edit("hidden ember", None)),
        )
        .await,
    );
    assert!(found(ann, vec!["alpha"]).await.is_empty());
    assert_eq!(found(ann, vec!["gamma"]).await, ["now gamma"]);
    assert!(found(ann, vec!["beta"]).await.is_empty());
    assert!(found(ann, vec!["ember"]).await.is_empty());
    assert_eq!(found(bob, vec!["ember"]).await, ["hidden ember"]);

    // Filters: no text, only an author (any case), newest first, a page at a time.
    let by_bob = |older_than: Option<i64>| MessageSearch {
        reader_id: ann,
        author: Some("SE_BOB"),
        older_than,
        limit: 2,
        ..MessageSearch::default()
    };
    let first = store.search_messages(by_bob(None)).await.unwrap();
    let first: Vec<&str> = first.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(first, ["now gamma", texts[2].2]);
    let rest = store.search_messages(by_bob(Some(ids[2]))).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), [ids[0]]);
    let in_room = |room: &'static str| MessageSearch {
        reader_id: ann,
        room: Some(room),
        texts: &["release"],
        limit: 50,
        ..MessageSearch::default()
    };
    assert_eq!(
        store
            .search_messages(in_room("se-mine"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .search_messages(in_room("se-secret"))
            .await
            .unwrap()
            .is_empty()
    );
    let later = MessageSearch {
        reader_id: ann,
        texts: &["release"],
        after: Some(now() + Duration::hours(1)),
        limit: 50,
        ..MessageSearch::default()
    };
    assert!(store.search_messages(later).await.unwrap().is_empty());
    let earlier = MessageSearch {
        before: Some(now() + Duration::hours(1)),
        after: None,
        ..later
    };
    assert_eq!(store.search_messages(earlier).await.unwrap().len(), 1);

    // Through the index too, hits come newest first across the reader's rooms, a page at
    // a time, and a room's messages the reader may not read are skipped, not counted.
    let mut wave = Vec::new();
    for n in 0..5 {
        for room_id in [mine, secret, other] {
            wave.push(message(
                room_id,
                bob,
                &format!("wave {n} in {room_id}"),
                None,
            ));
        }
    }
    let appended = store.append_messages(&wave).await.unwrap();
    store.add_member(ann, other, now()).await.unwrap();
    let readable: Vec<i64> = appended
        .iter()
        .filter(|appended| appended.record.room != "se-secret")
        .map(|appended| appended.record.id)
        .rev()
        .collect();
    for texts in [&["wave"][..], &["wa"][..]] {
        let mut seen = Vec::new();
        let mut older_than = None;
        loop {
            let page = store
                .search_messages(MessageSearch {
                    reader_id: ann,
                    texts,
                    older_than,
                    limit: 3,
                    ..MessageSearch::default()
                })
                .await
                .unwrap();
            seen.extend(page.iter().map(|m| m.id));
            if page.len() < 3 {
                break;
            }
            older_than = page.last().map(|m| m.id);
        }
        assert_eq!(seen, readable, "{texts:?}");
    }
}

fn new_file(
    id: &str,
    room_id: i64,
    uploader_id: i64,
    blob: &str,
    thumbnail: Option<&str>,
) -> NewFile {
    NewFile {
        id: id.to_owned(),
        room_id,
        uploader_id,
        name: format!("{id}.png"),
        size: 1000,
        content_type: "image/png".into(),
        width: Some(64),
        height: Some(32),
        blob: blob.to_owned(),
        thumbnail_blob: thumbnail.map(str::to_owned),
        created_at: now(),
    }
}

/// A file is attached once, by its uploader, in its room; it goes with its message, and
/// its bytes become garbage only when no live file names them (issue 21).
pub async fn files_are_attached_once_and_go_with_their_message(store: &dyn Store) {
    let ann = user(store, "fi_ann").await;
    let bob = user(store, "fi_bob").await;
    let here = room(store, "fi-here").await;
    let there = room(store, "fi-there").await;
    for (member, room_id) in [(ann, here), (bob, here), (ann, there)] {
        store.add_member(member, room_id, now()).await.unwrap();
    }
    let started = now() - Duration::seconds(1);
    let shared_blob = "b".repeat(64);
    let thumb = "c".repeat(64);
    let f1 = store
        .create_file(new_file("f1", here, ann, &shared_blob, Some(&thumb)))
        .await
        .expect("record a file");
    assert_eq!((f1.message_id, f1.width, f1.size), (None, Some(64), 1000));
    assert_eq!(store.file("f1").await.unwrap(), Some(f1.clone()));
    store
        .create_file(new_file("f2", here, ann, &shared_blob, None))
        .await
        .unwrap();
    store
        .create_file(new_file("f3", there, ann, &"d".repeat(64), None))
        .await
        .unwrap();
    store
        .create_file(new_file("f4", here, bob, &"e".repeat(64), None))
        .await
        .unwrap();
    assert_eq!(
        store.uploaded_bytes_since(ann, started).await.unwrap(),
        3000
    );
    assert_eq!(
        store.uploaded_bytes_since(bob, started).await.unwrap(),
        1000
    );
    assert_eq!(store.file("nope").await.unwrap(), None);

    let send = |files: &[&str], client_id: Option<&str>| {
        let mut message = message(here, ann, "", client_id);
        message.attachments = files.iter().map(|id| (*id).to_owned()).collect();
        MessageWrite::Append(message)
    };
    // Another room's file, someone else's, the same twice, one nobody uploaded.
    for files in [&["f3"][..], &["f4"], &["f1", "f1"], &["f9"]] {
        let written = store.write_messages(&[send(files, None)]).await.unwrap();
        assert_eq!(
            refused(written.into_iter().next().unwrap()),
            WriteRefusal::NoSuchFile,
            "{files:?}"
        );
    }
    let written = store
        .write_messages(&[send(&["f1"], Some("fi-1"))])
        .await
        .unwrap();
    let MessageWritten::Appended { appended, .. } = &written[0] else {
        panic!("expected the message stored, got {written:?}");
    };
    let sent = appended.record.clone();
    assert_eq!(sent.attachments, vec![f1.attachment()]);
    assert!(sent.attachments[0].thumbnail);
    assert_eq!(
        store.file("f1").await.unwrap().unwrap().message_id,
        Some(sent.id)
    );
    // As history reads it, and as a repeat of its client_id answers it.
    let (page, _) = store
        .list_messages(
            here,
            MessageQuery {
                limit: 10,
                ..MessageQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.last().unwrap().attachments, sent.attachments);
    let repeat = store
        .write_messages(&[send(&["f1"], Some("fi-1"))])
        .await
        .unwrap();
    let MessageWritten::Appended { appended, .. } = &repeat[0] else {
        panic!("expected the repeat found, got {repeat:?}");
    };
    assert!(!appended.is_new);
    assert_eq!(appended.record.attachments, sent.attachments);
    // Sent once only.
    let again = store.write_messages(&[send(&["f1"], None)]).await.unwrap();
    assert_eq!(
        refused(again.into_iter().next().unwrap()),
        WriteRefusal::NoSuchFile
    );
    // has:file
    let plain = store
        .append_messages(&[message(here, ann, "no file here", None)])
        .await
        .unwrap();
    let with_files = store
        .search_messages(MessageSearch {
            reader_id: bob,
            with_files: true,
            limit: 10,
            ..MessageSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        with_files.iter().map(|m| m.id).collect::<Vec<_>>(),
        [sent.id]
    );
    assert_ne!(plain[0].record.id, sent.id);

    // Deleted with its message; the bytes f2 shares stay, the thumbnail's go.
    let deleted = store
        .write_messages(&[MessageWrite::Change(MessageChange {
            room_id: here,
            message_id: sent.id,
            user_id: ann,
            at: now(),
            kind: ChangeKind::Delete { any_author: false },
        })])
        .await
        .unwrap();
    assert!(
        changed(deleted.into_iter().next().unwrap())
            .attachments
            .is_empty()
    );
    assert_eq!(store.file("f1").await.unwrap(), None);
    assert!(store.blob_in_use(&shared_blob).await.unwrap());
    assert!(!store.blob_in_use(&thumb).await.unwrap());
    assert_eq!(
        store.blob_garbage(10).await.unwrap(),
        std::slice::from_ref(&thumb)
    );
    store
        .forget_garbage(std::slice::from_ref(&thumb))
        .await
        .unwrap();
    assert!(store.blob_garbage(10).await.unwrap().is_empty());
    // The quota still counts what was deleted today.
    assert_eq!(
        store.uploaded_bytes_since(ann, started).await.unwrap(),
        3000
    );

    // Unsent files expire; then their bytes are garbage.
    assert_eq!(store.expire_files(started).await.unwrap(), 0);
    assert_eq!(
        store
            .expire_files(now() + Duration::seconds(1))
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.file("f2").await.unwrap(), None);
    let mut garbage = store.blob_garbage(10).await.unwrap();
    garbage.sort();
    assert_eq!(garbage, [shared_blob, "d".repeat(64), "e".repeat(64)]);
}

/// Text is kept exactly as written, on every backend: emoji and other characters beyond
/// the Basic Multilingual Plane (four bytes in UTF-8), scripts without case, trailing
/// spaces; and uniqueness folds case only, never accents (MySQL's `_ci` collations would
/// make "zoë" and "zoe" one account).
pub async fn text_is_kept_exactly(store: &dyn Store) {
    let created_at = now();
    for email in ["tx.zoë@example.org", "tx.zoe@example.org"] {
        let name = if email.contains('ë') {
            "tx_zoe1"
        } else {
            "tx_zoe2"
        };
        store
            .create_user(NewUser {
                username: name,
                email: Some(email),
                password_hash: "$argon2id$stub",
                created_at,
            })
            .await
            .unwrap_or_else(|err| panic!("{email}: {err:?}"));
    }
    let found = store
        .find_user_by_email("TX.ZOË@example.org")
        .await
        .unwrap()
        .expect("found by its email in another case");
    assert_eq!(found.email.as_deref(), Some("tx.zoë@example.org"));

    let writer = user(store, "tx_writer").await;
    let topic = "🎉 launch 𝄞 漢字 Ünïcode";
    let room_id = store
        .create_room(NewRoom {
            name: "tx-room",
            kind: RoomKind::Public,
            topic: Some(topic),
            created_by: Some(writer),
            created_at,
        })
        .await
        .unwrap()
        .id;
    let texts = [
        "emoji 😀👍🏽 and a flag 🇫🇷",
        "four bytes: 𝄞 𠜎 🀄",
        "漢字とかなカナ, 한국어, العربية, עברית",
        "trailing spaces   ",
        "  leading, and a tab\tinside",
    ];
    let batch: Vec<NewMessage> = texts
        .iter()
        .map(|text| message(room_id, writer, text, None))
        .collect();
    store.append_messages(&batch).await.unwrap();
    let (history, _) = store
        .list_messages(
            room_id,
            MessageQuery {
                before: None,
                after: Some(0),
                limit: 10,
            },
        )
        .await
        .unwrap();
    let read: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(read, texts);
    let room = store.get_room("tx-room").await.unwrap().expect("room");
    assert_eq!(room.topic.as_deref(), Some(topic));
    let listed = store
        .list_rooms(RoomQuery {
            search: Some("ÜNÏCODE"),
            after_name: None,
            limit: 10,
            viewer: Some(writer),
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "room search folds case beyond ASCII");
    for needle in ["😀", "𠜎", "한국어", "SPACES"] {
        let hits = store
            .search_messages(MessageSearch {
                reader_id: writer,
                texts: &[needle],
                limit: 10,
                ..MessageSearch::default()
            })
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "{needle}");
    }
}
