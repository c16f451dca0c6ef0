//! The store contract (`sala_store::contract`) against a fresh MySQL/MariaDB database per
//! test, plus what only a shared database has to show: nodes writing one room at once,
//! nodes starting at once, nodes reconnecting, and a database another application uses.
//!
//! Every test but `an_unreachable_server_is_unavailable` needs a server: they are `#[ignore]`d,
//! and `scripts/test.sh` runs them with `--include-ignored` after starting a throwaway MariaDB
//! (through `scripts/services.sh`) and setting `SALA_TEST_MYSQL_URL`.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use sala_store::{
    AccountStore as _, ChangeKind, MessageChange, MessageQuery, MessageStore as _, MessageWrite,
    NewMessage, NewRoom, NewUser, RoomKind, RoomStore as _, Store as _, StoreError, contract,
};
use sala_store_mysql::test_support::TempDatabase;
use sala_store_mysql::{MysqlOptions, MysqlStore};
use sqlx::{Connection as _, MySqlConnection};

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        #[ignore = "needs MariaDB"]
        async fn $name() {
            let database = TempDatabase::create().await;
            let store = MysqlStore::connect(&database.url).await.expect("connect store");
            contract::$name(&store).await;
            store.close().await;
            database.drop_now().await;
        }
    )*};
}

contract_tests!(
    accounts_are_unique_case_insensitively,
    status_is_stored,
    sessions_can_be_revoked,
    rooms_are_created_searched_and_paged,
    membership_tracks_reading,
    appends_are_ordered_and_idempotent,
    a_batch_is_all_or_nothing,
    history_pages_both_ways,
    messages_since_cover_the_users_rooms,
    search_finds_only_what_the_reader_may_read,
    files_are_attached_once_and_go_with_their_message,
    expired_sessions_are_purged,
    users_are_found_by_many_usernames,
    busy_members_are_listed_per_room,
    private_rooms_are_seen_by_their_members_only,
    a_set_of_people_has_one_dm,
    members_are_listed_with_roles,
    users_are_found_by_prefix,
    blocks_are_kept_per_pair,
    moderation_is_applied_and_recorded,
    a_topic_is_replaced_and_searched,
    an_archived_room_is_gone_but_keeps_its_name,
    members_may_be_allowed_to_invite_in_private_rooms,
    changes_take_positions_by_their_rules,
    resuming_from_any_position_equals_reading_from_scratch,
    mentions_are_counted_as_unread_per_member,
    writes_tell_the_position_they_follow,
    text_is_kept_exactly,
);

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // A port that was free a moment ago: nothing listens there, so the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let options = MysqlOptions {
        acquire_timeout: Duration::from_secs(2),
        ..MysqlOptions::default()
    };
    let url = format!("mysql://sala@127.0.0.1:{port}/sala");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        MysqlStore::connect_with(&url, options),
    )
    .await
    .expect("connect gives up within its acquire timeout");
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
#[ignore = "needs MariaDB"]
async fn reconnecting_keeps_the_data_and_reruns_no_migration() {
    let database = TempDatabase::create().await;
    let store = MysqlStore::connect(&database.url).await.unwrap();
    contract::status_is_stored(&store).await;
    store.close().await;

    let store = MysqlStore::connect(&database.url).await.unwrap();
    assert!(
        store
            .find_user_by_username("st_bob")
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;

    let mut conn = MySqlConnection::connect(&database.url).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM sala_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    // Each migration once, all of them: as many as the crate has files.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let expected: Vec<(i64, bool)> = (1..=files as i64).map(|version| (version, true)).collect();
    assert_eq!(applied, expected);
    conn.close().await.unwrap();
    database.drop_now().await;
}

/// Two nodes (two pools) append to one room at once while a third reads it the way a
/// catch-up cursor does, always asking for what lies after the newest id it has seen. Ids
/// must come out in commit order: the reader never meets an id below one it saw before, so
/// it misses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB"]
async fn concurrent_nodes_commit_a_rooms_ids_in_order() {
    const PER_NODE: usize = 200;
    let database = TempDatabase::create().await;
    let nodes = [
        MysqlStore::connect(&database.url).await.unwrap(),
        MysqlStore::connect(&database.url).await.unwrap(),
    ];
    let now = Utc::now();
    let mut users = Vec::new();
    for name in ["cc_node0", "cc_node1"] {
        let user = nodes[0]
            .create_user(NewUser {
                username: name,
                email: None,
                password_hash: "$argon2id$stub",
                created_at: now,
            })
            .await
            .unwrap();
        users.push(user.id);
    }
    let room_id = nodes[0]
        .create_room(NewRoom {
            name: "cc-room",
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now,
        })
        .await
        .unwrap()
        .id;

    let writers: Vec<_> = nodes
        .iter()
        .zip(users)
        .enumerate()
        .map(|(node, (store, user_id))| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut acked = Vec::with_capacity(PER_NODE);
                for i in 0..PER_NODE {
                    let appended = store
                        .append_messages(&[NewMessage {
                            room_id,
                            user_id,
                            text: format!("node {node} message {i}"),
                            client_id: Some(format!("n{node}-{i}")),
                            assistant: false,
                            created_at: Utc::now(),
                            reply_to: None,
                            mentions: Default::default(),
                            attachments: Vec::new(),
                        }])
                        .await
                        .expect("append");
                    acked.push(appended[0].record.id);
                }
                acked
            })
        })
        .collect();

    // Set once every writer has returned, so the reader's next empty page is final.
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = MysqlStore::connect(&database.url).await.unwrap();
        let writers_done = Arc::clone(&writers_done);
        tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            let mut cursor = 0;
            loop {
                // Read the flag before the page: a page read after every commit is complete.
                let done = writers_done.load(Ordering::SeqCst);
                let (page, _) = store
                    .list_messages(
                        room_id,
                        MessageQuery {
                            before: None,
                            after: Some(cursor),
                            limit: 50,
                        },
                    )
                    .await
                    .expect("read");
                if page.is_empty() && done {
                    break;
                }
                for message in page {
                    cursor = message.id;
                    seen.insert(message.id);
                }
                tokio::task::yield_now().await;
            }
            store.close().await;
            seen
        })
    };

    let mut all = BTreeSet::new();
    for writer in writers {
        let acked = tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("writer finishes")
            .expect("writer task");
        assert!(acked.windows(2).all(|pair| pair[0] < pair[1]), "{acked:?}");
        all.extend(acked);
    }
    assert_eq!(all.len(), 2 * PER_NODE, "ids are distinct");
    writers_done.store(true, Ordering::SeqCst);

    // The reader, following only its cursor, met every message: none committed behind it.
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("reader finishes")
        .expect("reader task");
    let missed: Vec<_> = all.difference(&seen).collect();
    assert!(
        missed.is_empty(),
        "committed behind the reader's cursor: {missed:?}"
    );

    let (history, more) = nodes[1]
        .list_messages(
            room_id,
            MessageQuery {
                before: None,
                after: None,
                limit: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!((history.len(), more), (2 * PER_NODE, false));

    for node in &nodes {
        node.close().await;
    }
    database.drop_now().await;
}

/// Changes as well as messages (issue 19): two nodes react to and edit one room's messages
/// at once while a third follows `changes_after` with its cursor, applying each message as
/// it reads it. Positions must follow commit order here too: what the reader holds in the
/// end is exactly the room read from scratch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB"]
async fn concurrent_nodes_commit_a_rooms_changes_in_order() {
    const PER_NODE: usize = 150;
    let database = TempDatabase::create().await;
    let nodes = [
        MysqlStore::connect(&database.url).await.unwrap(),
        MysqlStore::connect(&database.url).await.unwrap(),
    ];
    let now = Utc::now();
    let mut users = Vec::new();
    for name in ["cx_node0", "cx_node1"] {
        let user = nodes[0]
            .create_user(NewUser {
                username: name,
                email: None,
                password_hash: "$argon2id$stub",
                created_at: now,
            })
            .await
            .unwrap();
        users.push(user.id);
    }
    let room_id = nodes[0]
        .create_room(NewRoom {
            name: "cx-room",
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now,
        })
        .await
        .unwrap()
        .id;
    let messages: Vec<NewMessage> = (0..10)
        .map(|i| NewMessage {
            room_id,
            user_id: users[i % 2],
            text: format!("m{i}"),
            client_id: None,
            assistant: false,
            created_at: now,
            reply_to: None,
            mentions: Default::default(),
            attachments: Vec::new(),
        })
        .collect();
    let ids: Vec<i64> = nodes[0]
        .append_messages(&messages)
        .await
        .unwrap()
        .into_iter()
        .map(|appended| appended.record.id)
        .collect();
    let writers: Vec<_> = nodes
        .iter()
        .zip(users)
        .enumerate()
        .map(|(node, (store, user_id))| {
            let store = store.clone();
            let ids = ids.clone();
            tokio::spawn(async move {
                for i in 0..PER_NODE {
                    let message_id = ids[i % ids.len()];
                    // The node's own messages are edited; everyone's are reacted to.
                    let kind = if i.is_multiple_of(3) && (i % ids.len()) % 2 == node {
                        ChangeKind::Edit {
                            text: format!("node {node} edit {i}"),
                            client_id: None,
                            sent_after: None,
                        }
                    } else {
                        ChangeKind::React {
                            emoji: ["👍", "🎉", "👀"][i % 3].to_owned(),
                            add: i % 4 != 3,
                        }
                    };
                    let change = MessageChange {
                        room_id,
                        message_id,
                        user_id,
                        at: Utc::now(),
                        kind,
                    };
                    store
                        .write_messages(&[MessageWrite::Change(change)])
                        .await
                        .expect("change");
                }
            })
        })
        .collect();
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = MysqlStore::connect(&database.url).await.unwrap();
        let writers_done = Arc::clone(&writers_done);
        tokio::spawn(async move {
            let mut held = std::collections::BTreeMap::new();
            let mut cursor = 0;
            loop {
                let done = writers_done.load(Ordering::SeqCst);
                let (page, _) = store
                    .changes_after(room_id, cursor, 50)
                    .await
                    .expect("read");
                if page.is_empty() && done {
                    break;
                }
                for message in page {
                    cursor = message.seq;
                    held.insert(message.id, message);
                }
                tokio::task::yield_now().await;
            }
            store.close().await;
            held
        })
    };
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("writer finishes")
            .expect("writer task");
    }
    writers_done.store(true, Ordering::SeqCst);
    let held = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("reader finishes")
        .expect("reader task");
    let (scratch, _) = nodes[1]
        .list_messages(
            room_id,
            MessageQuery {
                before: None,
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    let scratch: std::collections::BTreeMap<i64, _> =
        scratch.into_iter().map(|m| (m.id, m)).collect();
    assert_eq!(
        held, scratch,
        "a change committed behind the reader's cursor"
    );
    for node in &nodes {
        node.close().await;
    }
    database.drop_now().await;
}

/// The same `(user, client_id)` sent to two rooms at once from two nodes: the room locks do
/// not serialise them, so the later insert meets the unique index, waits for the other
/// transaction, and once that commits stores nothing: it answers the message the other
/// node stored, as any repeat is answered.
#[tokio::test]
#[ignore = "needs MariaDB"]
async fn a_client_id_racing_in_another_room_is_answered_with_the_one_stored() {
    let database = TempDatabase::create().await;
    let store = MysqlStore::connect(&database.url).await.unwrap();
    let now = Utc::now();
    let user_id = store
        .create_user(NewUser {
            username: "rc_judy",
            email: None,
            password_hash: "$argon2id$stub",
            created_at: now,
        })
        .await
        .unwrap()
        .id;
    let mut rooms = Vec::new();
    for name in ["rc-here", "rc-there"] {
        let room = NewRoom {
            name,
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now,
        };
        rooms.push(store.create_room(room).await.unwrap().id);
    }
    let message = NewMessage {
        room_id: rooms[0],
        user_id,
        text: "hello".to_owned(),
        client_id: Some("rc-1".to_owned()),
        assistant: false,
        created_at: now,
        reply_to: None,
        mentions: Default::default(),
        attachments: Vec::new(),
    };

    // The "other node": inserts the same client_id in the other room, not yet committed.
    let mut other_node = MySqlConnection::connect(&database.url).await.unwrap();
    let mut other_tx = other_node.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO messages (id, seq, room_id, user_id, text, client_id, created_at, mentions) \
         VALUES (1000000, 1000000, ?, ?, 'from the other node', 'rc-1', 0, '[]')",
    )
    .bind(rooms[1])
    .bind(user_id)
    .execute(&mut *other_tx)
    .await
    .unwrap();

    let racing = tokio::spawn({
        let store = store.clone();
        let message = message.clone();
        async move { store.append_messages(&[message]).await }
    });
    // Wait until our insert waits on the other transaction's index entry, then commit it.
    let mut watcher = MySqlConnection::connect(&database.url).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // The statement in the process list, in the state InnoDB shows while it waits
            // for a row lock.
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND state = 'Update' AND info LIKE 'INSERT INTO messages%'",
            )
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(!racing.is_finished(), "the append returned without waiting");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the append waits for the other transaction");
    other_tx.commit().await.unwrap();

    let raced = racing.await.expect("append task").unwrap();
    assert!(!raced[0].is_new, "{raced:?}");
    assert_eq!(
        (raced[0].record.room.as_str(), raced[0].record.text.as_str()),
        ("rc-there", "from the other node")
    );
    let (stored,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM messages WHERE user_id = ? AND client_id = 'rc-1'")
            .bind(user_id)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
    assert_eq!(stored, 1, "stored once");

    watcher.close().await.unwrap();
    other_node.close().await.unwrap();
    store.close().await;
    database.drop_now().await;
}

/// Nodes starting together on an empty database: sqlx's `GET_LOCK` makes them take turns,
/// so every one of them connects and each migration is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB"]
async fn nodes_starting_at_once_migrate_once() {
    let database = TempDatabase::create().await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = database.url.clone();
            tokio::spawn(async move { MysqlStore::connect(&url).await })
        })
        .collect();
    for start in starts {
        let store = start.await.expect("task").expect("every node connects");
        store.close().await;
    }
    let mut conn = MySqlConnection::connect(&database.url).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM sala_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let expected: Vec<(i64, bool)> = (1..=files as i64).map(|version| (version, true)).collect();
    assert_eq!(applied, expected, "each migration once");
    conn.close().await.unwrap();
    database.drop_now().await;
}

/// Another application's tables: beside them Sala works and leaves them alone; where one of
/// them has a name Sala needs, Sala refuses to start, names it, and creates nothing.
#[tokio::test]
#[ignore = "needs MariaDB"]
async fn another_applications_tables_are_left_alone() {
    let database = TempDatabase::create().await;
    let mut conn = MySqlConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE wp_posts (id INT PRIMARY KEY, title TEXT); \
         INSERT INTO wp_posts VALUES (1, 'hello'); \
         CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT); \
         INSERT INTO _sqlx_migrations VALUES (20200101, 'theirs')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let store = MysqlStore::connect(&database.url)
        .await
        .expect("Sala starts beside tables of other names");
    contract::status_is_stored(&store).await;
    store.close().await;
    let theirs: Vec<(i64, String)> = sqlx::query_as("SELECT id, title FROM wp_posts")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(theirs, [(1, "hello".to_owned())]);
    let (migrations,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        migrations, 1,
        "another sqlx application's record is untouched"
    );
    conn.close().await.unwrap();
    database.drop_now().await;

    let database = TempDatabase::create().await;
    let mut conn = MySqlConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE users (id INT PRIMARY KEY, login TEXT); \
         INSERT INTO users VALUES (7, 'their-user')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let refused = MysqlStore::connect(&database.url).await;
    let Err(StoreError::Backend(reason)) = refused else {
        panic!("a foreign `users` table is refused: {:?}", refused.err());
    };
    let reason = reason.to_string();
    assert!(
        reason.contains("users") && reason.contains("database of its own"),
        "{reason}"
    );
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY table_name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, [("users".to_owned(),)], "nothing was created");
    let (login,): (String,) = sqlx::query_as("SELECT login FROM users WHERE id = 7")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(login, "their-user");
    conn.close().await.unwrap();
    database.drop_now().await;
}

/// A wrong password is refused by the server, and the error says so (not "unavailable":
/// retrying will not help).
#[tokio::test]
#[ignore = "needs MariaDB"]
async fn a_wrong_password_is_refused_with_the_servers_reason() {
    let database = TempDatabase::create().await;
    let url = database.url.replacen("sala:sala@", "sala:wrong@", 1);
    assert_ne!(url, database.url, "the test URL carries the password");
    let refused = MysqlStore::connect(&url).await;
    let Err(StoreError::Backend(reason)) = refused else {
        panic!("a wrong password is a backend error: {:?}", refused.err());
    };
    assert!(reason.to_string().contains("Access denied"), "{reason}");
    database.drop_now().await;
}

/// A batch whose texts add up to more than MariaDB's `max_allowed_packet` (16 MiB): 1,100
/// texts of 4,000 four-byte characters, 17.6 MB before they are written in hexadecimal.
/// It is stored whole, in several statements, and every text is found again as written.
#[tokio::test]
#[ignore = "needs MariaDB"]
async fn a_batch_larger_than_a_packet_is_stored_whole() {
    const MESSAGES: usize = 1_100;
    let database = TempDatabase::create().await;
    let store = MysqlStore::connect(&database.url).await.unwrap();
    let now = Utc::now();
    let user_id = store
        .create_user(NewUser {
            username: "bp_ann",
            email: None,
            password_hash: "$argon2id$stub",
            created_at: now,
        })
        .await
        .unwrap()
        .id;
    let room_id = store
        .create_room(NewRoom {
            name: "bp-room",
            kind: RoomKind::Public,
            topic: None,
            created_by: None,
            created_at: now,
        })
        .await
        .unwrap()
        .id;
    store.add_member(user_id, room_id, now).await.unwrap();
    // Ten emoji in a sequence that differs per message, so the texts are not all alike.
    let emoji: Vec<char> = ('😀'..='😉').collect();
    let text = |n: usize| -> String {
        (0..4_000)
            .map(|i| emoji[(i * (n % 7 + 1) + i / 10) % emoji.len()])
            .collect()
    };
    let batch: Vec<NewMessage> = (0..MESSAGES)
        .map(|n| NewMessage {
            room_id,
            user_id,
            text: if n == 700 {
                format!("needle-{}", text(n))
            } else {
                text(n)
            },
            client_id: Some(format!("bp-{n}")),
            assistant: false,
            created_at: now,
            reply_to: None,
            mentions: Default::default(),
            attachments: Vec::new(),
        })
        .collect();
    assert!(batch.iter().map(|m| m.text.len()).sum::<usize>() > 16 << 20);
    let appended = store.append_messages(&batch).await.expect("append");
    assert_eq!(appended.len(), MESSAGES);
    assert!(appended.iter().all(|a| a.is_new));

    let stored = store
        .list_messages(
            room_id,
            MessageQuery {
                after: Some(0),
                before: None,
                limit: 2_000,
            },
        )
        .await
        .unwrap()
        .0;
    assert_eq!(stored.len(), MESSAGES);
    assert!(stored.iter().zip(&batch).all(|(s, b)| s.text == b.text));
    let hits = store
        .search_messages(sala_store::MessageSearch {
            reader_id: user_id,
            texts: &["NEEDLE-"],
            limit: 10,
            ..sala_store::MessageSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|m| m.id).collect::<Vec<_>>(),
        [appended[700].record.id]
    );
    store.close().await;
    database.drop_now().await;
}
