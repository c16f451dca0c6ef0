//! The store contract (`sala_store::contract`) against a real SQLite file per test.

use sala_store::contract;
use sala_store_sqlite::SqliteStore;

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("sala.db")).await.expect("open store");
            contract::$name(&store).await;
            sala_store::Store::close(&store).await;
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
async fn reopening_keeps_the_data_and_reruns_no_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sala.db");
    let store = SqliteStore::open(&path).await.unwrap();
    contract::status_is_stored(&store).await;
    sala_store::Store::close(&store).await;
    let store = SqliteStore::open(&path).await.unwrap();
    use sala_store::AccountStore as _;
    assert!(
        store
            .find_user_by_username("st_bob")
            .await
            .unwrap()
            .is_some()
    );
}

/// Rooms made before roles existed (migration 5) keep their creator, as owner; other
/// members are members.
#[tokio::test]
async fn rooms_made_before_roles_keep_their_creator_as_owner() {
    use sala_store::{Role, RoomKind, RoomStore as _};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sala.db");
    // The schema as it was before roles: the first four migrations only.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files.iter().take(4) {
        std::fs::copy(file, old.join(file.file_name().unwrap())).unwrap();
    }
    let pool = SqlitePoolOptions::new()
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for statement in [
        "INSERT INTO users (id, username, username_key, password_hash, created_at) \
         VALUES (1, 'maker', 'maker', 'x', 0), (2, 'joiner', 'joiner', 'x', 0)",
        "INSERT INTO rooms (id, name, search_text, created_by, created_at) \
         VALUES (1, 'oldroom', 'oldroom', 1, 0)",
        "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (1, 1, 0), (2, 1, 0)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = SqliteStore::open(&path)
        .await
        .expect("migrates the old database");
    let room = store.get_room("oldroom").await.unwrap().unwrap();
    assert_eq!(room.kind, RoomKind::Public);
    assert_eq!(store.role_in(1, room.id).await.unwrap(), Some(Role::Owner));
    assert_eq!(store.role_in(2, room.id).await.unwrap(), Some(Role::Member));
    sala_store::Store::close(&store).await;
}
